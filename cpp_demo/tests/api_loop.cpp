// Load / predict / free, again and again, with every error path of the C ABI in between: run under valgrind
// memcheck (see CMakeLists.txt), it proves no leak, no invalid read or write and no use of uninitialized memory.
//   test_api_loop MODEL.onnx DATA_DIR
#include "common.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

int main(int argc, char** argv) {
    EXPECT(argc == 3);
    const char* model_path = argv[1];
    const char* data_dir = argv[2];
    EXPECT(mvt_abi_version() == MVT_ABI_VERSION);

    // Files that are not mvt models.
    // Scratch files go to the working directory (ctest: the build folder).
    const std::string garbage = "api_loop_garbage.onnx";
    std::ofstream(garbage) << "definitely not protobuf \xff\xff\xff";
    // The first videos of val.txt only: memcheck runs ~50x slower than native.
    // Absolute: mvt_dataset_open reads a relative list path inside data_dir.
    const std::string list = (std::filesystem::current_path() / "api_loop_list.txt").string();
    {
        std::ifstream full(std::string(data_dir) + "/val.txt");
        std::ofstream part(list);
        std::string line;
        for (int i = 0; i < 6 && std::getline(full, line); ++i) part << line << "\n";
    }
    mvt_model* model = nullptr;
    mvt_options options = options_with(1);
    EXPECT_STATUS(mvt_load(nullptr, &options, &model), MVT_ERR_NULL_POINTER, "model_path is NULL");
    EXPECT(model == nullptr);
    EXPECT_STATUS(mvt_load(model_path, &options, nullptr), MVT_ERR_NULL_POINTER, "out is NULL");
    EXPECT_STATUS(mvt_load("/nonexistent/model.onnx", &options, &model), MVT_ERR_MODEL_FILE, "nonexistent");
    EXPECT_STATUS(mvt_load(garbage.c_str(), &options, &model), MVT_ERR_MODEL_FILE, "not an ONNX model");
    mvt_options bad = options;
    bad.struct_size = 3;
    EXPECT_STATUS(mvt_load(model_path, &bad, &model), MVT_ERR_INVALID_ARGUMENT, "struct_size");
    bad = options;
    bad.device = 42;
    EXPECT_STATUS(mvt_load(model_path, &bad, &model), MVT_ERR_INVALID_ARGUMENT, "options.device is 42");
    bad = options;
    bad.threshold = 2.0;
    EXPECT_STATUS(mvt_load(model_path, &bad, &model), MVT_ERR_INVALID_ARGUMENT, "threshold");
    EXPECT(model == nullptr);

    for (int round = 0; round < 2; ++round) {
        options.top_k = 3;
        EXPECT_STATUS(mvt_load(model_path, &options, &model), MVT_OK, "");
        mvt_info info;
        info.struct_size = sizeof info;
        EXPECT(mvt_model_info(model, &info) == MVT_OK);
        EXPECT(std::string(info.provider) == "cpu");
        EXPECT(mvt_class_name(model, info.num_classes - 1) != nullptr);
        EXPECT(mvt_class_name(model, info.num_classes) == nullptr);

        mvt_dataset* dataset = nullptr;
        EXPECT_STATUS(mvt_dataset_open(model, data_dir, "no_such_list.txt", &dataset), MVT_ERR_DATASET, "no_such_list.txt");
        EXPECT(mvt_dataset_open(model, data_dir, list.c_str(), &dataset) == MVT_OK);
        std::vector<mvt_video> videos = dataset_videos(dataset);

        mvt_result* result = nullptr;
        EXPECT(mvt_predict(model, videos.data(), videos.size(), &result) == MVT_OK);
        EXPECT(mvt_result_count(result) == videos.size());
        for (size_t i = 0; i < videos.size(); ++i) {
            size_t n = 0;
            EXPECT(probabilities(result, i).size() == info.num_classes);
            const mvt_tag* tags = mvt_result_tags(result, i, &n);
            for (size_t k = 0; k < n; ++k) EXPECT(tags[k].score >= info.threshold && tags[k].name != nullptr);
            EXPECT(mvt_result_top_k(result, i, &n) != nullptr && n == 3);
            const float* attention = mvt_result_rgb_attention(result, i, &n);
            EXPECT(attention != nullptr && n == videos[i].rgb_frames);
            EXPECT(mvt_result_audio_attention(result, i, &n) != nullptr && n == videos[i].audio_frames);
        }
        size_t n = 99;
        EXPECT(mvt_result_tags(result, videos.size(), &n) == nullptr && n == 0);
        char* json = mvt_result_json(result, nullptr);
        EXPECT(json != nullptr && json[0] == '[');
        mvt_string_free(json);
        mvt_result_free(result);

        // Every input error: the call fails, *out stays NULL, nothing leaks.
        std::vector<mvt_video> broken = videos;
        auto predict_broken = [&]() {
            mvt_result* r = nullptr;
            mvt_status status = mvt_predict(model, broken.data(), broken.size(), &r);
            EXPECT(r == nullptr);
            broken = videos;
            return status;
        };
        broken[1].rgb_dim += 1;
        EXPECT_STATUS(predict_broken(), MVT_ERR_DIMENSION, "video 1: image features have width");
        broken[0].audio_dim = 3;
        EXPECT_STATUS(predict_broken(), MVT_ERR_DIMENSION, "video 0: audio");
        broken[2].rgb_frames = 0;
        EXPECT_STATUS(predict_broken(), MVT_ERR_FRAME_COUNT, "video 2: no image frames");
        broken[2].rgb_frames = std::numeric_limits<size_t>::max();
        EXPECT_STATUS(predict_broken(), MVT_ERR_FRAME_COUNT, "more than max_frames");
        broken[3].rgb = nullptr;
        EXPECT_STATUS(predict_broken(), MVT_ERR_NULL_POINTER, "video 3: rgb");
        std::vector<float> poisoned(videos[1].rgb, videos[1].rgb + videos[1].rgb_frames * videos[1].rgb_dim);
        poisoned[videos[1].rgb_dim + 2] = std::nanf("");
        broken[1].rgb = poisoned.data();
        EXPECT_STATUS(predict_broken(), MVT_ERR_NON_FINITE, "video 1: image feature at frame 1, column 2 is NaN");
        poisoned[videos[1].rgb_dim + 2] = std::numeric_limits<float>::infinity();
        broken[1].rgb = poisoned.data();
        EXPECT_STATUS(predict_broken(), MVT_ERR_NON_FINITE, "is inf");
        static const char bad_utf8[] = {'o', 'k', '\xc3', '\x28'};
        broken[0].title = bad_utf8;
        broken[0].title_len = sizeof bad_utf8;
        EXPECT_STATUS(predict_broken(), MVT_ERR_INVALID_UTF8, "video 0: the title is not valid UTF-8");
        broken[0].title = nullptr;
        broken[0].title_len = 5;
        EXPECT_STATUS(predict_broken(), MVT_ERR_NULL_POINTER, "video 0: title");
        mvt_result* r = nullptr;
        EXPECT_STATUS(mvt_predict(nullptr, videos.data(), 1, &r), MVT_ERR_NULL_POINTER, "model is NULL");
        EXPECT_STATUS(mvt_predict(model, nullptr, 1, &r), MVT_ERR_NULL_POINTER, "videos is NULL");
        EXPECT_STATUS(mvt_model_info(model, nullptr), MVT_ERR_NULL_POINTER, "info is NULL");

        mvt_dataset_free(dataset);
        mvt_free(model);
        model = nullptr;
    }
    mvt_free(nullptr);
    mvt_result_free(nullptr);
    mvt_dataset_free(nullptr);
    mvt_string_free(nullptr);
    std::remove(garbage.c_str());
    std::remove(list.c_str());
    std::printf("api loop ok\n");
    return 0;
}
