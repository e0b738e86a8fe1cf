// mvt_demo: tag videos with libmvt from C++.
//
// Loads an mvt model file, reads the videos of a list file from a dataset in the original layout (class.txt,
// val.txt, feature_files/*.pkl) through libmvt's dataset reader, tags them in one mvt_predict call, prints each
// video's tags and optionally writes the original's output.json (the same bytes as `mvt infer`) and every
// probability (for cross-checks).
//
//   mvt_demo --model model.onnx --data DIR [--list val.txt] [--out output.json] [--probs probs.json]
//            [--threshold T] [--top-k K]
#include <mvt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Owning handles: every mvt object is freed exactly once, also when an exception unwinds.
struct ModelDeleter { void operator()(mvt_model* m) const { mvt_free(m); } };
struct DatasetDeleter { void operator()(mvt_dataset* d) const { mvt_dataset_free(d); } };
struct ResultDeleter { void operator()(mvt_result* r) const { mvt_result_free(r); } };
struct StringDeleter { void operator()(char* s) const { mvt_string_free(s); } };

void check(mvt_status status, const char* what) {
    if (status != MVT_OK) {
        throw std::runtime_error(std::string(what) + " failed (status " + std::to_string(status) + "): " + mvt_last_error());
    }
}

struct Args {
    std::string model, data, list = "val.txt", out, probs;
    double threshold = -1.0;
    size_t top_k = 0;
};

Args parse(int argc, char** argv) {
    Args args;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (i + 1 >= argc) throw std::runtime_error("missing value after " + flag);
        std::string value = argv[++i];
        if (flag == "--model") args.model = value;
        else if (flag == "--data") args.data = value;
        else if (flag == "--list") args.list = value;
        else if (flag == "--out") args.out = value;
        else if (flag == "--probs") args.probs = value;
        else if (flag == "--threshold") args.threshold = std::stod(value);
        else if (flag == "--top-k") args.top_k = std::stoul(value);
        else throw std::runtime_error("unknown option " + flag);
    }
    if (args.model.empty() || args.data.empty()) throw std::runtime_error("--model and --data are required");
    return args;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream file(path, std::ios::binary);
    file << text;
    if (!file) throw std::runtime_error("cannot write " + path);
}

// A JSON string literal (the ids are file names; escape what JSON requires).
std::string quoted(const char* text) {
    std::string out = "\"";
    for (const char* p = text; *p; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (c == '"' || c == '\\') { out += '\\'; out += *p; }
        else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", c); out += buf; }
        else out += *p;
    }
    return out + "\"";
}

int run(const Args& args) {
    if (mvt_abi_version() != MVT_ABI_VERSION) throw std::runtime_error("libmvt ABI differs from mvt.h");
    mvt_options options;
    check(mvt_default_options(&options, sizeof options), "mvt_default_options");
    options.threshold = args.threshold;
    options.top_k = args.top_k;

    mvt_model* raw_model = nullptr;
    check(mvt_load(args.model.c_str(), &options, &raw_model), "mvt_load");
    std::unique_ptr<mvt_model, ModelDeleter> model(raw_model);
    mvt_info info;
    info.struct_size = sizeof info;
    check(mvt_model_info(model.get(), &info), "mvt_model_info");
    std::printf("libmvt %s, ONNX Runtime %s (%s), %zu classes, threshold %g\n", mvt_version(), info.ort_version,
                info.ort_library, info.num_classes, info.threshold);

    mvt_dataset* raw_dataset = nullptr;
    check(mvt_dataset_open(model.get(), args.data.c_str(), args.list.c_str(), &raw_dataset), "mvt_dataset_open");
    std::unique_ptr<mvt_dataset, DatasetDeleter> dataset(raw_dataset);
    size_t count = mvt_dataset_count(dataset.get());
    std::vector<mvt_video> videos(count);
    std::vector<const char*> ids(count);
    for (size_t i = 0; i < count; ++i) check(mvt_dataset_video(dataset.get(), i, &videos[i], &ids[i]), "mvt_dataset_video");

    mvt_result* raw_result = nullptr;
    check(mvt_predict(model.get(), videos.data(), videos.size(), &raw_result), "mvt_predict");
    std::unique_ptr<mvt_result, ResultDeleter> result(raw_result);

    for (size_t i = 0; i < count; ++i) {
        size_t n = 0;
        const mvt_tag* tags = mvt_result_tags(result.get(), i, &n);
        std::printf("%s:", ids[i]);
        for (size_t k = 0; k < n; ++k) std::printf(" %s (%.3f)", tags[k].name, tags[k].score);
        if (n == 0) std::printf(" (no tag >= %g)", info.threshold);
        if (args.top_k > 0) {
            const mvt_tag* best = mvt_result_top_k(result.get(), i, &n);
            std::printf("  | top %zu:", n);
            for (size_t k = 0; k < n; ++k) std::printf(" %s (%.3f)", best[k].name, best[k].score);
        }
        std::printf("\n");
    }
    if (!args.out.empty()) {
        std::unique_ptr<char, StringDeleter> json(mvt_result_json(result.get(), ids.data()));
        if (!json) throw std::runtime_error(std::string("mvt_result_json failed: ") + mvt_last_error());
        write_file(args.out, json.get());
    }
    if (!args.probs.empty()) {
        // {"video id": [p0, p1, ...], ...} with every float printed exactly (9 significant digits round-trip f32).
        std::string text = "{";
        for (size_t i = 0; i < count; ++i) {
            size_t n = 0;
            const float* probs = mvt_result_probabilities(result.get(), i, &n);
            text += (i ? ",\n" : "\n") + quoted(ids[i]) + ": [";
            for (size_t k = 0; k < n; ++k) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%s%.9g", k ? ", " : "", static_cast<double>(probs[k]));
                text += buf;
            }
            text += "]";
        }
        write_file(args.probs, text + "\n}\n");
    }
    std::printf("tagged %zu videos on %s\n", count, info.provider);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mvt_demo: %s\n", e.what());
        return 1;
    }
}
