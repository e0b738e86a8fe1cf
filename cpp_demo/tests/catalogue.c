/* The hostile-input catalogue, C ABI part: every bad call a C host can make, each with the status and a fragment
 * of the message it must get. Plain C11 against include/mvt.h only, so it is what a C host sees; run under valgrind
 * by tests/python/test_catalogue.py, which also makes the hostile model files (HOSTILE_DIR) and runs the other
 * parts of the catalogue (model files through the CLI, ONNX Runtime lookup, the CLI, the trainer, Python).
 *   catalogue --list                              the case names, one a line
 *   catalogue MODEL.onnx DATA_DIR HOSTILE_DIR     runs every case; prints "ok NAME" or "not ok NAME: why" each
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvt.h"

static const char *model_path;
static const char *data_dir;
static const char *hostile_dir;
static mvt_model *model;
static mvt_info info;
static bool case_failed;
static char why[2048];

/* Records the first failed expectation of the running case. */
static void fail(const char *format, const char *a, const char *b) {
    if (!case_failed) {
        snprintf(why, sizeof why, format, a, b);
        case_failed = true;
    }
}

static void expect_status(mvt_status got, mvt_status expected, const char *fragment) {
    const char *message = got == MVT_OK ? "" : mvt_last_error();
    char numbers[64];
    snprintf(numbers, sizeof numbers, "status %d, expected %d", (int)got, (int)expected);
    if (got != expected) {
        fail("%s; message: %s", numbers, message);
    } else if (fragment != NULL && strstr(message, fragment) == NULL) {
        fail("the message lacks \"%s\": %s", fragment, message);
    }
}

/* For calls that return NULL or 0 on failure: the thread's message must hold `fragment`. */
static void expect_last_error(const char *fragment) {
    if (strstr(mvt_last_error(), fragment) == NULL) fail("the message lacks \"%s\": %s", fragment, mvt_last_error());
}

static void expect_true(bool condition, const char *what) {
    if (!condition) fail("%s%s", what, "");
}

static mvt_options default_options(void) {
    mvt_options options;
    mvt_default_options(&options, sizeof options);
    options.sessions = 1;
    options.intra_threads = 1;
    return options;
}

/* Loading `path` with `options` must fail with `expected` and leave the out-pointer NULL. */
static void expect_load_fails(const char *path, mvt_options options, mvt_status expected, const char *fragment) {
    mvt_model *loaded = (mvt_model *)&loaded; /* not NULL, so the test sees mvt_load clear it */
    mvt_status status = mvt_load(path, &options, &loaded);
    expect_status(status, expected, fragment);
    if (status == MVT_OK) mvt_free(loaded);
    expect_true(status == MVT_OK || loaded == NULL, "a failed mvt_load left *out non-NULL");
}

static char *hostile_file(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", hostile_dir, name);
    return path;
}

/* One valid video with `frames` image frames and `segments` audio segments, the features all `value`. */
typedef struct {
    float *rgb;
    float *audio;
    mvt_video video;
} owned_video;

static owned_video make_video(size_t frames, size_t segments, float value) {
    owned_video v;
    v.rgb = malloc((frames ? frames : 1) * info.rgb_dim * sizeof(float));
    v.audio = malloc((segments ? segments : 1) * info.audio_dim * sizeof(float));
    for (size_t i = 0; i < frames * info.rgb_dim; ++i) v.rgb[i] = value;
    for (size_t i = 0; i < segments * info.audio_dim; ++i) v.audio[i] = value;
    mvt_video video = {v.rgb, frames, info.rgb_dim, v.audio, segments, info.audio_dim, "a title", 7};
    v.video = video;
    return v;
}

static void free_video(owned_video *v) {
    free(v->rgb);
    free(v->audio);
}

/* mvt_predict on one video must fail with `expected`, leaving *out NULL. */
static void expect_predict_fails(const mvt_video *video, mvt_status expected, const char *fragment) {
    mvt_result *result = (mvt_result *)&result;
    mvt_status status = mvt_predict(model, video, 1, &result);
    expect_status(status, expected, fragment);
    if (status == MVT_OK) mvt_result_free(result);
    expect_true(status == MVT_OK || result == NULL, "a failed mvt_predict left *out non-NULL");
}

/* ---- options ---------------------------------------------------------------------------------------------- */

static void options_null(void) { expect_status(mvt_default_options(NULL, sizeof(mvt_options)), MVT_ERR_NULL_POINTER, "options"); }

static void options_struct_size_too_small(void) {
    mvt_options options;
    expect_status(mvt_default_options(&options, 3), MVT_ERR_INVALID_ARGUMENT, "struct_size");
}

static void options_struct_size_too_large(void) {
    static char room[4096];
    expect_status(mvt_default_options((mvt_options *)room, sizeof room), MVT_ERR_INVALID_ARGUMENT, "struct_size");
}

static void load_struct_size_wrong(void) {
    mvt_options options = default_options();
    options.struct_size = 3;
    expect_load_fails(model_path, options, MVT_ERR_INVALID_ARGUMENT, "struct_size");
}

#define OPTION_CASE(case_name, field, value, fragment)                                   \
    static void case_name(void) {                                                        \
        mvt_options options = default_options();                                         \
        options.field = value;                                                           \
        expect_load_fails(model_path, options, MVT_ERR_INVALID_ARGUMENT, fragment);      \
    }

OPTION_CASE(sessions_zero, sessions, 0, "sessions")
OPTION_CASE(sessions_size_max, sessions, SIZE_MAX, "sessions")
OPTION_CASE(sessions_2000, sessions, 2000, "sessions")
OPTION_CASE(intra_threads_100000, intra_threads, 100000, "intra_threads")
OPTION_CASE(intra_threads_2_pow_31, intra_threads, (size_t)1 << 31, "intra_threads")
OPTION_CASE(batch_size_zero, batch_size, 0, "batch_size")
OPTION_CASE(batch_size_huge, batch_size, SIZE_MAX, "batch_size")
OPTION_CASE(max_frames_zero, max_frames, 0, "max_frames")
OPTION_CASE(max_frames_huge, max_frames, (size_t)1 << 40, "max_frames")
OPTION_CASE(threshold_nan, threshold, NAN, "threshold")
OPTION_CASE(threshold_above_one, threshold, 1.5, "threshold")
OPTION_CASE(device_unknown, device, 42, "options.device is 42")
/* device_id matters (and is checked) for CUDA and auto. */
#define CUDA_OPTION_CASE(case_name, value)                                                   \
    static void case_name(void) {                                                            \
        mvt_options options = default_options();                                             \
        options.device = MVT_DEVICE_CUDA;                                                    \
        options.device_id = value;                                                           \
        expect_load_fails(model_path, options, MVT_ERR_INVALID_ARGUMENT, "device_id is");    \
    }

CUDA_OPTION_CASE(device_id_huge, 5000)
CUDA_OPTION_CASE(device_id_negative, -1)

/* ---- mvt_load ------------------------------------------------------------------------------------------------ */

static void load_path_null(void) { expect_load_fails(NULL, default_options(), MVT_ERR_NULL_POINTER, "model_path is NULL"); }

static void load_out_null(void) {
    mvt_options options = default_options();
    expect_status(mvt_load(model_path, &options, NULL), MVT_ERR_NULL_POINTER, "out is NULL");
}

static void load_missing_file(void) {
    expect_load_fails("/nonexistent/model.onnx", default_options(), MVT_ERR_MODEL_FILE, "/nonexistent/model.onnx");
}

static void load_directory(void) { expect_load_fails(data_dir, default_options(), MVT_ERR_MODEL_FILE, "not a regular file"); }

static void load_dev_zero(void) { expect_load_fails("/dev/zero", default_options(), MVT_ERR_MODEL_FILE, "not a regular file"); }

/* Model files made by the Python driver: each must be refused with its status and message. */
typedef struct {
    const char *file;
    mvt_status expected;
    const char *fragment;
} hostile_model;

static const hostile_model hostile_models[] = {
    {"empty.onnx", MVT_ERR_MODEL_FILE, "not an ONNX file"},
    {"text.onnx", MVT_ERR_MODEL_FILE, "not an ONNX file"},
    {"truncated.onnx", MVT_ERR_MODEL_FILE, "not an ONNX file"},
    {"byte_flipped_weight.onnx", MVT_ERR_MODEL_FILE, "corrupted"},
    {"byte_flipped_classes.onnx", MVT_ERR_MODEL_FILE, "corrupted"},
    {"no_digest.onnx", MVT_ERR_MODEL_METADATA, "mvt.digest"},
    {"no_metadata.onnx", MVT_ERR_MODEL_METADATA, "mvt.format_version"},
    {"future_version.onnx", MVT_ERR_MODEL_METADATA, "unsupported mvt model format version"},
    {"empty_audio_frames_1e11.onnx", MVT_ERR_MODEL_METADATA, "mvt.empty_audio_frames"},
    {"empty_audio_frames_over_max_frames.onnx", MVT_ERR_MODEL_METADATA, "max_frames"},
    {"rgb_dim_huge.onnx", MVT_ERR_MODEL_METADATA, "mvt.rgb_dim"},
    {"text_max_len_huge.onnx", MVT_ERR_MODEL_METADATA, "mvt.text_max_len"},
    {"text_max_len_disagrees_with_tokenizer.onnx", MVT_ERR_MODEL_METADATA, "tokenizer"},
    {"class_count_mismatch.onnx", MVT_ERR_MODEL_METADATA, "mvt.classes"},
    {"duplicate_class.onnx", MVT_ERR_MODEL_METADATA, "duplicate class"},
    {"nul_in_class.onnx", MVT_ERR_MODEL_METADATA, "mvt.classes"},
    {"duplicate_key.onnx", MVT_ERR_MODEL_METADATA, "more than once"},
    {"threshold_out_of_range.onnx", MVT_ERR_MODEL_METADATA, "mvt.threshold"},
    {"tokenizer_not_json.onnx", MVT_ERR_MODEL_METADATA, "mvt.tokenizer"},
    {"tokenizer_huge_vocab.onnx", MVT_ERR_MODEL_METADATA, "tokenizer"},
    {"wrong_input_width.onnx", MVT_ERR_MODEL_METADATA, "signature"},
};

/* ---- mvt_predict ------------------------------------------------------------------------------------------- */

static void predict_model_null(void) {
    owned_video v = make_video(2, 2, 0.5f);
    mvt_result *result;
    expect_status(mvt_predict(NULL, &v.video, 1, &result), MVT_ERR_NULL_POINTER, "model");
    free_video(&v);
}

static void predict_videos_null(void) {
    mvt_result *result;
    expect_status(mvt_predict(model, NULL, 1, &result), MVT_ERR_NULL_POINTER, "videos");
}

static void predict_out_null(void) {
    owned_video v = make_video(2, 2, 0.5f);
    expect_status(mvt_predict(model, &v.video, 1, NULL), MVT_ERR_NULL_POINTER, "out");
    free_video(&v);
}

static void predict_zero_videos(void) {
    mvt_result *result = NULL;
    expect_status(mvt_predict(model, NULL, 0, &result), MVT_OK, NULL);
    expect_true(result != NULL && mvt_result_count(result) == 0, "count 0 gives an empty result");
    mvt_result_free(result);
}

#define VIDEO_CASE(case_name, frames, segments, edit, expected, fragment) \
    static void case_name(void) {                                         \
        owned_video v = make_video(frames, segments, 0.25f);              \
        edit;                                                             \
        expect_predict_fails(&v.video, expected, fragment);               \
        free_video(&v);                                                   \
    }

VIDEO_CASE(rgb_null, 3, 2, v.video.rgb = NULL, MVT_ERR_NULL_POINTER, "rgb")
VIDEO_CASE(audio_null_with_segments, 3, 2, v.video.audio = NULL, MVT_ERR_NULL_POINTER, "audio")
VIDEO_CASE(title_null_with_length, 3, 2, v.video.title = NULL, MVT_ERR_NULL_POINTER, "title")
VIDEO_CASE(no_image_frames, 0, 2, (void)0, MVT_ERR_FRAME_COUNT, "no image frames")
VIDEO_CASE(rgb_dim_wrong, 3, 2, v.video.rgb_dim = info.rgb_dim + 1, MVT_ERR_DIMENSION, "rgb_dim")
VIDEO_CASE(rgb_dim_size_max, 3, 2, v.video.rgb_dim = SIZE_MAX, MVT_ERR_DIMENSION, "rgb_dim")
VIDEO_CASE(audio_dim_wrong, 3, 2, v.video.audio_dim = 1, MVT_ERR_DIMENSION, "audio_dim")
VIDEO_CASE(audio_dim_size_max, 3, 2, v.video.audio_dim = SIZE_MAX, MVT_ERR_DIMENSION, "audio_dim")
VIDEO_CASE(rgb_nan, 3, 2, v.rgb[info.rgb_dim + 1] = NAN, MVT_ERR_NON_FINITE, "frame 1")
VIDEO_CASE(audio_infinite, 3, 2, v.audio[info.audio_dim] = INFINITY, MVT_ERR_NON_FINITE, "audio")
VIDEO_CASE(title_invalid_utf8, 3, 2, (v.video.title = "ab\xff\xfe", v.video.title_len = 4), MVT_ERR_INVALID_UTF8,
           "title")
VIDEO_CASE(title_overlong_utf8, 3, 2, (v.video.title = "\xc0\xaf", v.video.title_len = 2), MVT_ERR_INVALID_UTF8,
           "title")

static void frames_over_max_frames(void) {
    mvt_options options = default_options();
    options.max_frames = 12; /* at least the model's empty_audio_frames (10), or the load is refused */
    mvt_model *small = NULL;
    expect_status(mvt_load(model_path, &options, &small), MVT_OK, NULL);
    if (small == NULL) return;
    owned_video v = make_video(13, 2, 0.25f);
    mvt_result *result = NULL;
    expect_status(mvt_predict(small, &v.video, 1, &result), MVT_ERR_FRAME_COUNT, "max_frames");
    owned_video audio_heavy = make_video(2, 13, 0.25f);
    expect_status(mvt_predict(small, &audio_heavy.video, 1, &result), MVT_ERR_FRAME_COUNT, "max_frames");
    free_video(&audio_heavy);
    free_video(&v);
    mvt_free(small);
}

static void rgb_frames_size_max(void) {
    owned_video v = make_video(2, 2, 0.25f);
    v.video.rgb_frames = SIZE_MAX;
    expect_predict_fails(&v.video, MVT_ERR_FRAME_COUNT, "max_frames");
    free_video(&v);
}

static void audio_segments_size_max(void) {
    owned_video v = make_video(2, 2, 0.25f);
    v.video.audio_frames = SIZE_MAX / 2;
    expect_predict_fails(&v.video, MVT_ERR_FRAME_COUNT, "max_frames");
    free_video(&v);
}

/* One bad video among good ones fails the whole call, naming its index. */
static void bad_video_named_by_index(void) {
    owned_video v[3] = {make_video(2, 2, 0.1f), make_video(3, 1, 0.2f), make_video(2, 0, 0.3f)};
    v[2].rgb[0] = NAN;
    mvt_video videos[3] = {v[0].video, v[1].video, v[2].video};
    mvt_result *result = (mvt_result *)&result;
    expect_status(mvt_predict(model, videos, 3, &result), MVT_ERR_NON_FINITE, "video 2");
    expect_true(result == NULL, "a failed mvt_predict left *out non-NULL");
    for (int i = 0; i < 3; ++i) free_video(&v[i]);
}

/* A huge title is tokenized from a bounded prefix: the call succeeds with at most text_max_len ids. */
static void huge_title_is_bounded(void) {
    size_t length = (size_t)4 << 20;
    char *title = malloc(length);
    for (size_t i = 0; i < length; ++i) title[i] = (i % 7 == 6) ? ' ' : (char)('a' + i % 26);
    int64_t ids[1024];
    size_t count = 0;
    expect_status(mvt_tokenize(model, title, length, ids, 1024, &count), MVT_OK, NULL);
    expect_true(count >= 2 && count <= info.text_max_len, "ids of a huge title fit text_max_len");
    owned_video v = make_video(2, 2, 0.25f);
    v.video.title = title;
    v.video.title_len = length;
    mvt_result *result = NULL;
    expect_status(mvt_predict(model, &v.video, 1, &result), MVT_OK, NULL);
    mvt_result_free(result);
    free_video(&v);
    free(title);
}

/* A title whose word pieces lie further in than the tokenizer looks (one 4 MB word) is refused, not tokenized
 * whole (which costs about 100 bytes a byte). */
static void huge_word_title_is_refused(void) {
    size_t length = (size_t)4 << 20;
    char *title = malloc(length);
    memset(title, 'a', length);
    int64_t ids[1024];
    size_t count = 0;
    expect_status(mvt_tokenize(model, title, length, ids, 1024, &count), MVT_ERR_INVALID_ARGUMENT,
                  "word pieces do not lie within");
    owned_video v = make_video(2, 2, 0.25f);
    v.video.title = title;
    v.video.title_len = length;
    expect_predict_fails(&v.video, MVT_ERR_INVALID_ARGUMENT, "video 0: the title");
    free_video(&v);
    free(title);
}

/* ---- mvt_tokenize ------------------------------------------------------------------------------------------- */

static void tokenize_model_null(void) {
    int64_t ids[8];
    size_t count;
    expect_status(mvt_tokenize(NULL, "a", 1, ids, 8, &count), MVT_ERR_NULL_POINTER, "model");
}

static void tokenize_ids_null(void) {
    size_t count;
    expect_status(mvt_tokenize(model, "a", 1, NULL, 64, &count), MVT_ERR_NULL_POINTER, "ids");
}

static void tokenize_count_null(void) {
    int64_t ids[8];
    expect_status(mvt_tokenize(model, "a", 1, ids, 8, NULL), MVT_ERR_NULL_POINTER, "count");
}

static void tokenize_capacity_too_small(void) {
    int64_t ids[1];
    size_t count = 0;
    expect_status(mvt_tokenize(model, "a b c", 5, ids, 1, &count), MVT_ERR_INVALID_ARGUMENT, "capacity");
    expect_true(count > 1, "*count holds the number of ids needed");
}

static void tokenize_invalid_utf8(void) {
    int64_t ids[64];
    size_t count;
    expect_status(mvt_tokenize(model, "\xed\xa0\x80", 3, ids, 64, &count), MVT_ERR_INVALID_UTF8, "UTF-8");
}

static void tokenize_title_null_with_length(void) {
    int64_t ids[64];
    size_t count;
    expect_status(mvt_tokenize(model, NULL, 3, ids, 64, &count), MVT_ERR_NULL_POINTER, "title");
}

/* ---- model info and classes ------------------------------------------------------------------------------ */

static void info_null_model(void) {
    mvt_info i;
    memset(&i, 0, sizeof i);
    i.struct_size = sizeof i;
    expect_status(mvt_model_info(NULL, &i), MVT_ERR_NULL_POINTER, "model");
}

static void info_null_info(void) { expect_status(mvt_model_info(model, NULL), MVT_ERR_NULL_POINTER, "info"); }

static void info_struct_size_zero(void) {
    mvt_info i;
    memset(&i, 0, sizeof i);
    expect_status(mvt_model_info(model, &i), MVT_ERR_INVALID_ARGUMENT, "struct_size");
}

static void class_name_out_of_range(void) {
    expect_true(mvt_class_name(model, info.num_classes) == NULL, "mvt_class_name past the end is NULL");
    expect_last_error("index");
}

static void class_name_null_model(void) {
    expect_true(mvt_class_name(NULL, 0) == NULL, "mvt_class_name(NULL) is NULL");
    expect_last_error("model");
}

/* ---- results -------------------------------------------------------------------------------------------------- */

static mvt_result *one_result(void) {
    owned_video v = make_video(2, 2, 0.25f);
    mvt_result *result = NULL;
    mvt_predict(model, &v.video, 1, &result);
    free_video(&v);
    return result;
}

static void result_index_out_of_range(void) {
    mvt_result *result = one_result();
    size_t count = 99;
    expect_true(mvt_result_probabilities(result, 1, &count) == NULL && count == 0, "video 1 of 1 is NULL, count 0");
    expect_last_error("video 1");
    expect_true(mvt_result_tags(result, SIZE_MAX, &count) == NULL, "tags of video SIZE_MAX is NULL");
    expect_true(mvt_result_rgb_attention(result, 7, NULL) == NULL, "attention of video 7 is NULL");
    mvt_result_free(result);
}

static void result_null(void) {
    size_t count = 99;
    expect_true(mvt_result_count(NULL) == 0, "mvt_result_count(NULL) is 0");
    expect_true(mvt_result_top_k(NULL, 0, &count) == NULL && count == 0, "top_k of NULL is NULL");
    expect_last_error("result");
}

static void result_json_invalid_utf8_id(void) {
    mvt_result *result = one_result();
    const char *ids[1] = {"vid\xff"};
    expect_true(mvt_result_json(result, ids) == NULL, "a non-UTF-8 id gives NULL");
    expect_last_error("video id");
    mvt_result_free(result);
}

static void result_json_null_id(void) {
    mvt_result *result = one_result();
    const char *ids[1] = {NULL};
    expect_true(mvt_result_json(result, ids) == NULL, "a NULL id gives NULL");
    expect_last_error("id");
    mvt_result_free(result);
}

static void result_json_null_result(void) {
    expect_true(mvt_result_json(NULL, NULL) == NULL, "mvt_result_json(NULL) is NULL");
    expect_last_error("result");
}

static void frees_ignore_null(void) {
    mvt_free(NULL);
    mvt_result_free(NULL);
    mvt_dataset_free(NULL);
    mvt_string_free(NULL);
}

/* ---- datasets ------------------------------------------------------------------------------------------------ */

static void dataset_null_arguments(void) {
    mvt_dataset *dataset;
    expect_status(mvt_dataset_open(NULL, data_dir, "val.txt", &dataset), MVT_ERR_NULL_POINTER, "model");
    expect_status(mvt_dataset_open(model, NULL, "val.txt", &dataset), MVT_ERR_NULL_POINTER, "data_dir");
    expect_status(mvt_dataset_open(model, data_dir, NULL, &dataset), MVT_ERR_NULL_POINTER, "list_file");
    expect_status(mvt_dataset_open(model, data_dir, "val.txt", NULL), MVT_ERR_NULL_POINTER, "out");
}

static void dataset_missing_list(void) {
    mvt_dataset *dataset;
    expect_status(mvt_dataset_open(model, data_dir, "no_such_list.txt", &dataset), MVT_ERR_DATASET,
                  "no_such_list.txt");
}

static void dataset_missing_folder(void) {
    mvt_dataset *dataset;
    expect_status(mvt_dataset_open(model, "/nonexistent/data", "val.txt", &dataset), MVT_ERR_DATASET,
                  "/nonexistent/data");
}

/* HOSTILE_DIR/data: a dataset whose list names a hostile pickle, a NaN feature file and a missing file. */
static void dataset_reports_skipped_rows(void) {
    mvt_dataset *dataset = NULL;
    char data[4096];
    snprintf(data, sizeof data, "%s/data", hostile_dir);
    expect_status(mvt_dataset_open(model, data, "list.txt", &dataset), MVT_OK, NULL);
    if (dataset == NULL) return;
    expect_true(mvt_dataset_count(dataset) == 1, "one good video is kept");
    expect_true(mvt_dataset_skipped_count(dataset) == 3, "three rows are skipped");
    bool hostile = false, non_finite = false, missing = false;
    for (size_t i = 0; i < mvt_dataset_skipped_count(dataset); ++i) {
        size_t line = 0;
        const char *name = NULL, *reason = NULL;
        expect_status(mvt_dataset_skipped(dataset, i, &line, &name, &reason), MVT_OK, NULL);
        if (reason == NULL) continue;
        hostile |= strstr(reason, "refused global posix.system") != NULL && line == 2;
        non_finite |= strstr(reason, "not finite") != NULL && line == 3;
        missing |= strstr(reason, "missing feature file") != NULL && line == 4;
    }
    expect_true(hostile, "the hostile pickle is reported on line 2 as refused global posix.system");
    expect_true(non_finite, "the NaN feature file is reported on line 3 as not finite");
    expect_true(missing, "the missing file is reported on line 4");
    size_t line;
    expect_status(mvt_dataset_skipped(dataset, 3, &line, NULL, NULL), MVT_ERR_INVALID_ARGUMENT, "3");
    mvt_video video;
    expect_status(mvt_dataset_video(dataset, 1, &video, NULL), MVT_ERR_INVALID_ARGUMENT, "1");
    expect_status(mvt_dataset_video(dataset, 0, NULL, NULL), MVT_ERR_NULL_POINTER, "video");
    mvt_dataset_free(dataset);
}

/* ---- the table ------------------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

#define CASE(f) {#f, f}
static const test_case cases[] = {
    CASE(options_null), CASE(options_struct_size_too_small), CASE(options_struct_size_too_large),
    CASE(load_struct_size_wrong), CASE(sessions_zero), CASE(sessions_size_max), CASE(sessions_2000),
    CASE(intra_threads_100000), CASE(intra_threads_2_pow_31), CASE(batch_size_zero), CASE(batch_size_huge),
    CASE(max_frames_zero), CASE(max_frames_huge), CASE(threshold_nan), CASE(threshold_above_one),
    CASE(device_unknown), CASE(device_id_huge), CASE(device_id_negative), CASE(load_path_null), CASE(load_out_null),
    CASE(load_missing_file), CASE(load_directory), CASE(load_dev_zero),
    CASE(predict_model_null), CASE(predict_videos_null), CASE(predict_out_null), CASE(predict_zero_videos),
    CASE(rgb_null), CASE(audio_null_with_segments), CASE(title_null_with_length), CASE(no_image_frames),
    CASE(rgb_dim_wrong), CASE(rgb_dim_size_max), CASE(audio_dim_wrong), CASE(audio_dim_size_max), CASE(rgb_nan),
    CASE(audio_infinite), CASE(title_invalid_utf8), CASE(title_overlong_utf8), CASE(frames_over_max_frames),
    CASE(rgb_frames_size_max), CASE(audio_segments_size_max), CASE(bad_video_named_by_index),
    CASE(huge_title_is_bounded), CASE(huge_word_title_is_refused), CASE(tokenize_model_null), CASE(tokenize_ids_null), CASE(tokenize_count_null),
    CASE(tokenize_capacity_too_small), CASE(tokenize_invalid_utf8), CASE(tokenize_title_null_with_length),
    CASE(info_null_model), CASE(info_null_info), CASE(info_struct_size_zero), CASE(class_name_out_of_range),
    CASE(class_name_null_model), CASE(result_index_out_of_range), CASE(result_null),
    CASE(result_json_invalid_utf8_id), CASE(result_json_null_id), CASE(result_json_null_result),
    CASE(frees_ignore_null), CASE(dataset_null_arguments), CASE(dataset_missing_list), CASE(dataset_missing_folder),
    CASE(dataset_reports_skipped_rows),
};

/* Prints the case's line; returns 1 when it failed. */
static int report(const char *prefix, const char *name) {
    if (case_failed) {
        printf("not ok %s%s: %s\n", prefix, name, why);
        return 1;
    }
    printf("ok %s%s\n", prefix, name);
    return 0;
}

int main(int argc, char **argv) {
    size_t n = sizeof cases / sizeof cases[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; ++i) printf("%s\n", cases[i].name);
        for (size_t i = 0; i < sizeof hostile_models / sizeof hostile_models[0]; ++i)
            printf("model_file:%s\n", hostile_models[i].file);
        return 0;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: catalogue --list | catalogue MODEL.onnx DATA_DIR HOSTILE_DIR\n");
        return 2;
    }
    model_path = argv[1];
    data_dir = argv[2];
    hostile_dir = argv[3];
    mvt_options options = default_options();
    if (mvt_load(model_path, &options, &model) != MVT_OK) {
        fprintf(stderr, "cannot load %s: %s\n", model_path, mvt_last_error());
        return 1;
    }
    info.struct_size = sizeof info;
    mvt_model_info(model, &info);
    int failures = 0;
    for (size_t i = 0; i < n; ++i) {
        case_failed = false;
        cases[i].run();
        failures += report(cases[i].name, "");
    }
    for (size_t i = 0; i < sizeof hostile_models / sizeof hostile_models[0]; ++i) {
        const hostile_model *h = &hostile_models[i];
        case_failed = false;
        expect_load_fails(hostile_file(h->file), default_options(), h->expected, h->fragment);
        failures += report("model_file:", h->file);
    }
    mvt_free(model);
    return failures == 0 ? 0 : 1;
}
