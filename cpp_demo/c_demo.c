/* The smallest C host: load a model, tag one video, print where ONNX Runtime came from. Built against an installed
 * libmvt with pkg-config (tests/python/test_install.py):
 *   cc -std=c11 cpp_demo/c_demo.c $(pkg-config --cflags --libs mvt) -o c_demo && ./c_demo model.onnx
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvt.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.onnx\n", argv[0]);
        return 2;
    }
    mvt_options options;
    mvt_default_options(&options, sizeof options);
    mvt_model *model = NULL;
    if (mvt_load(argv[1], &options, &model) != MVT_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], mvt_last_error());
        return 1;
    }
    mvt_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    mvt_model_info(model, &info);
    /* Three frames and two audio segments of constant features; the values do not matter here. */
    float *rgb = calloc(3 * info.rgb_dim, sizeof(float));
    float *audio = calloc(2 * info.audio_dim, sizeof(float));
    const char *title = "a title";
    mvt_video video = {rgb, 3, info.rgb_dim, audio, 2, info.audio_dim, title, strlen(title)};
    mvt_result *result = NULL;
    int status = mvt_predict(model, &video, 1, &result);
    if (status == MVT_OK) {
        size_t classes = 0;
        const float *probabilities = mvt_result_probabilities(result, 0, &classes);
        size_t best = 0;
        for (size_t k = 1; k < classes; ++k)
            if (probabilities[k] > probabilities[best]) best = k;
        printf("mvt %s on %s, ONNX Runtime %s from %s\n", mvt_version(), info.provider, info.ort_version,
               info.ort_library);
        printf("best class: %s (%.4f)\n", mvt_class_name(model, best), probabilities[best]);
    } else {
        fprintf(stderr, "mvt_predict: %s\n", mvt_last_error());
    }
    mvt_result_free(result);
    mvt_free(model);
    free(rgb);
    free(audio);
    return status == MVT_OK ? 0 : 1;
}
