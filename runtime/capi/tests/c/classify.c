/* Classifies .npy inputs with a .kes through the Kestrel C API and prints, per input,
 * "<file> <top-1 index> <label> <score>". scripts/capi-test.sh compares it with
 * `kestrel run`. The model and arena live in memory this program owns: the library
 * allocates nothing.
 *
 *   classify MODEL.kes INPUT.npy...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kestrel.h"

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* Model bytes must be 16-byte aligned: read them into an aligned buffer. */
    size_t cap = ((size_t)n + 63) / 64 * 64;
    void *buf = aligned_alloc(64, cap ? cap : 64);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A float32 .npy (format 1.0, C order): the values and their count. */
static float *read_npy(const char *path, size_t *count) {
    size_t len = 0;
    unsigned char *b = read_file(path, &len);
    if (!b) return NULL;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0 || b[6] != 1) { free(b); return NULL; }
    size_t hlen = (size_t)b[8] | ((size_t)b[9] << 8);
    if (10 + hlen > len || !strstr((const char *)b + 10, "'<f4'")) { free(b); return NULL; }
    size_t n = (len - 10 - hlen) / 4;
    float *x = malloc(n * sizeof(float));
    if (x) memcpy(x, b + 10 + hlen, n * sizeof(float));
    free(b);
    *count = n;
    return x;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.kes INPUT.npy...\n", argv[0]);
        return 2;
    }
    size_t model_len = 0;
    uint8_t *bytes = read_file(argv[1], &model_len);
    if (!bytes) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }

    KesModel model;
    char msg[160];
    KesStatus st = kes_model_load(bytes, model_len, &model, msg, sizeof msg);
    if (st != KES_OK) {
        fprintf(stderr, "%s: %s (%s)\n", argv[1], msg, kes_status_message(st));
        return 1;
    }
    /* Errors come back as codes with messages. */
    if (kes_model_load(bytes, 10, &model, msg, sizeof msg) != KES_E_TRUNCATED) {
        fprintf(stderr, "a truncated model must be refused\n");
        return 1;
    }
    st = kes_model_load(bytes, model_len, &model, NULL, 0);

    KesTensorInfo in, out;
    KesPreprocess pp;
    kes_model_input(&model, &in);
    kes_model_output(&model, &out);
    kes_model_preprocess(&model, &pp);
    size_t arena_len = kes_model_arena_size(&model);
    fprintf(stderr, "kestrel %s: input %ux%ux%ux%u (%s), output %zu values, arena %zu bytes, %zu labels\n",
            kes_version(), in.dims[0], in.dims[1], in.dims[2], in.dims[3],
            in.dtype == KES_DTYPE_I8 ? "int8" : "f32", out.elements, arena_len, kes_model_label_count(&model));

    uint8_t *arena = aligned_alloc(64, (arena_len + 63) / 64 * 64);
    float *nhwc = malloc(in.elements * sizeof(float));
    float *scores = malloc(out.elements * sizeof(float));
    if (!arena || !nhwc || !scores) return 1;
    if (kes_model_run(&model, arena, arena_len / 2) != KES_E_ARENA_SIZE && arena_len > 32) {
        fprintf(stderr, "a small arena must be refused\n");
        return 1;
    }

    for (int a = 2; a < argc; a++) {
        size_t n = 0;
        float *x = read_npy(argv[a], &n);
        if (!x || n != in.elements) {
            fprintf(stderr, "%s: not a float32 .npy of %zu values\n", argv[a], in.elements);
            return 1;
        }
        /* .npy tensors are in the source model's layout: NCHW → the runtime's NHWC. */
        uint32_t h = in.dims[1], w = in.dims[2], c = in.dims[3];
        for (uint32_t ch = 0; ch < c; ch++)
            for (uint32_t i = 0; i < h * w; i++)
                nhwc[i * c + ch] = pp.src_nchw ? x[ch * h * w + i] : x[i * c + ch];
        free(x);
        if ((st = kes_model_set_input_f32(&model, arena, arena_len, nhwc, in.elements)) != KES_OK ||
            (st = kes_model_run(&model, arena, arena_len)) != KES_OK ||
            (st = kes_model_output_f32(&model, arena, arena_len, scores, out.elements)) != KES_OK) {
            fprintf(stderr, "%s: %s\n", argv[a], kes_status_message(st));
            return 1;
        }
        size_t best = 0;
        for (size_t i = 1; i < out.elements; i++)
            if (scores[i] > scores[best]) best = i;
        const char *label = "";
        size_t label_len = 0;
        kes_model_label(&model, best, &label, &label_len);
        const char *base = strrchr(argv[a], '/');
        printf("%s %zu %.*s %.4f\n", base ? base + 1 : argv[a], best, (int)label_len, label, scores[best]);
    }
    free(scores);
    free(nhwc);
    free(arena);
    free(bytes);
    return 0;
}
