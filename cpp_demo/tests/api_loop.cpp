// Load / predict / free, again and again, with every error path of the C ABI in between, through the C++ wrapper
// (mvt.hpp: failures throw mvt::Error, objects free themselves) plus the C calls the wrapper cannot make (NULL
// out-parameters). Run under valgrind memcheck (see CMakeLists.txt), it proves no leak, no invalid read or write
// and no use of uninitialized memory, also on the paths that throw.
//   test_api_loop MODEL.onnx DATA_DIR
#include "common.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>

namespace {

int run(int argc, char** argv) {
    EXPECT(argc == 3);
    const char* model_path = argv[1];
    const char* data_dir = argv[2];
    EXPECT(mvt_abi_version() == MVT_ABI_VERSION);
    EXPECT(mvt::abi_compatible());

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
    mvt::Options options = options_with(1);
    EXPECT_ERROR(mvt::Model(static_cast<const char*>(nullptr), options), MVT_ERR_NULL_POINTER,
                 "model_path is NULL");
    EXPECT_STATUS(mvt_load(model_path, &options, nullptr), MVT_ERR_NULL_POINTER, "out is NULL");
    EXPECT_ERROR(mvt::Model("/nonexistent/model.onnx", options), MVT_ERR_MODEL_FILE, "nonexistent");
    EXPECT_ERROR(mvt::Model(garbage, options), MVT_ERR_MODEL_FILE, "not an ONNX file");
    mvt::Options bad = options;
    bad.struct_size = 3;
    EXPECT_ERROR(mvt::Model(model_path, bad), MVT_ERR_INVALID_ARGUMENT, "struct_size");
    bad = options;
    bad.device = 42;
    EXPECT_ERROR(mvt::Model(model_path, bad), MVT_ERR_INVALID_ARGUMENT, "options.device is 42");
    bad = options;
    bad.threshold = 2.0;
    EXPECT_ERROR(mvt::Model(model_path, bad), MVT_ERR_INVALID_ARGUMENT, "threshold");
    // The C contract the wrapper relies on: a failed mvt_load leaves *out NULL.
    mvt_model* raw_model = nullptr;
    EXPECT_STATUS(mvt_load(garbage.c_str(), &options, &raw_model), MVT_ERR_MODEL_FILE, "not an ONNX file");
    EXPECT(raw_model == nullptr);

    for (int round = 0; round < 2; ++round) {
        options.top_k = 3;
        mvt::Model loaded(model_path, options);
        mvt::Model model = std::move(loaded);  // ownership moves; the moved-from object frees nothing
        EXPECT(model && !loaded);
        const mvt::Info info = model.info();
        EXPECT(info.provider == "cpu");
        EXPECT(!model.class_name(info.num_classes - 1).empty());
        EXPECT_ERROR(model.class_name(info.num_classes), MVT_ERR_INVALID_ARGUMENT, "out of range");
        EXPECT(model.class_names().size() == info.num_classes);
        const std::vector<std::int64_t> ids = model.tokenize("a title");
        EXPECT(ids.size() >= 2 && ids.size() <= info.text_max_len);

        EXPECT_ERROR(mvt::Dataset(model, data_dir, "no_such_list.txt"), MVT_ERR_DATASET, "no_such_list.txt");
        const mvt::Dataset dataset(model, data_dir, list);
        std::vector<mvt_video> videos = dataset_videos(dataset);

        mvt::Result result = model.predict(videos);
        EXPECT(result.size() == videos.size());
        for (size_t i = 0; i < videos.size(); ++i) {
            EXPECT(probabilities(result, i).size() == info.num_classes);
            for (const mvt_tag& tag : result.tags(i)) EXPECT(tag.score >= info.threshold && tag.name != nullptr);
            const mvt::View<mvt_tag> top = result.top_k(i);
            EXPECT(top.data() != nullptr && top.size() == 3);
            const mvt::View<float> attention = result.rgb_attention(i);
            EXPECT(attention.data() != nullptr && attention.size() == videos[i].rgb_frames);
            const mvt::View<float> audio_attention = result.audio_attention(i);
            EXPECT(audio_attention.data() != nullptr && audio_attention.size() == videos[i].audio_frames);
        }
        EXPECT_ERROR(result.tags(videos.size()), MVT_ERR_INVALID_ARGUMENT, "out of range");
        size_t n = 99;
        EXPECT(mvt_result_tags(result.get(), videos.size(), &n) == nullptr && n == 0);
        {
            const mvt::String json = result.json();
            EXPECT(json.get() != nullptr && json.c_str()[0] == '[');
            const mvt::String named = result.json(dataset.ids());
            EXPECT(named.view().find(dataset.id(0)) != std::string_view::npos);
        }
        EXPECT_ERROR(result.json(std::vector<const char*>{}), MVT_ERR_INVALID_ARGUMENT, "0 ids for");
        result = mvt::Result();  // move-assigning frees the old result
        EXPECT(!result && result.size() == 0);
        EXPECT_ERROR(result.probabilities(0), MVT_ERR_NULL_POINTER, "result is NULL");

        // Every input error: the call throws, no result exists, nothing leaks.
        std::vector<mvt_video> broken = videos;
        auto predict_broken = [&]() {
            const std::vector<mvt_video> attempt = std::exchange(broken, videos);
            return model.predict(attempt);
        };
        broken[1].rgb_dim += 1;
        EXPECT_ERROR(predict_broken(), MVT_ERR_DIMENSION, "video 1: image (rgb_dim) features have width");
        broken[0].audio_dim = 3;
        EXPECT_ERROR(predict_broken(), MVT_ERR_DIMENSION, "video 0: audio");
        broken[2].rgb_frames = 0;
        EXPECT_ERROR(predict_broken(), MVT_ERR_FRAME_COUNT, "video 2: no image frames");
        broken[2].rgb_frames = std::numeric_limits<size_t>::max();
        EXPECT_ERROR(predict_broken(), MVT_ERR_FRAME_COUNT, "more than max_frames");
        broken[3].rgb = nullptr;
        EXPECT_ERROR(predict_broken(), MVT_ERR_NULL_POINTER, "video 3: rgb");
        std::vector<float> poisoned(videos[1].rgb, videos[1].rgb + videos[1].rgb_frames * videos[1].rgb_dim);
        poisoned[videos[1].rgb_dim + 2] = std::nanf("");
        broken[1].rgb = poisoned.data();
        EXPECT_ERROR(predict_broken(), MVT_ERR_NON_FINITE, "video 1: image feature at frame 1, column 2 is NaN");
        poisoned[videos[1].rgb_dim + 2] = std::numeric_limits<float>::infinity();
        broken[1].rgb = poisoned.data();
        EXPECT_ERROR(predict_broken(), MVT_ERR_NON_FINITE, "is inf");
        static const char bad_utf8[] = {'o', 'k', '\xc3', '\x28'};
        broken[0].title = bad_utf8;
        broken[0].title_len = sizeof bad_utf8;
        EXPECT_ERROR(predict_broken(), MVT_ERR_INVALID_UTF8, "video 0: the title is not valid UTF-8");
        broken[0].title = nullptr;
        broken[0].title_len = 5;
        EXPECT_ERROR(predict_broken(), MVT_ERR_NULL_POINTER, "video 0: title");
        // The C contract the wrapper relies on: a failed mvt_predict leaves *out NULL.
        broken[1].rgb_dim += 1;
        mvt_result* raw_result = nullptr;
        EXPECT_STATUS(mvt_predict(model.get(), broken.data(), broken.size(), &raw_result), MVT_ERR_DIMENSION,
                      "video 1: image (rgb_dim) features have width");
        EXPECT(raw_result == nullptr);
        const mvt::Model empty;
        EXPECT_ERROR(empty.predict(videos.data(), 1), MVT_ERR_NULL_POINTER, "model is NULL");
        EXPECT_ERROR(model.predict(nullptr, 1), MVT_ERR_NULL_POINTER, "videos is NULL");
        EXPECT_STATUS(mvt_model_info(model.get(), nullptr), MVT_ERR_NULL_POINTER, "info is NULL");
        // `dataset` and `model` free themselves here, dataset first.
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

}  // namespace

int main(int argc, char** argv) { return run_test(run, argc, argv); }
