/*
 * replay_main: runs a fuzz target's LLVMFuzzerTestOneInput over every file of a corpus folder,
 * so the corpus is exercised under ctest (and under ASan/UBSan in that build) even without clang.
 * Fails if the folder is missing or empty: a replay that ran nothing must not pass.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (d == NULL) {
        perror(argv[1]);
        return 1;
    }
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            perror(path);
            closedir(d);
            return 1;
        }
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        count++;
    }
    closedir(d);
    printf("replayed %d corpus files from %s\n", count, argv[1]);
    return count > 0 ? 0 : 1;
}
