// mvt_demo: tag videos with libmvt from C++ (through include/mvt.hpp, the RAII wrapper of the C API).
//
// Loads an mvt model file, reads the videos of a list file from a dataset in the original layout (class.txt,
// val.txt, feature_files/*.pkl) through libmvt's dataset reader, tags them in one mvt_predict call, prints each
// video's tags and optionally writes the original's output.json (the same bytes as `mvt infer`) and every
// probability (for cross-checks).
//
//   mvt_demo --model model.onnx --data DIR [--list val.txt] [--out output.json] [--probs probs.json]
//            [--threshold T] [--top-k K]
#include <mvt.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Ownership is mvt.hpp's: mvt::Model, mvt::Dataset, mvt::Result and mvt::String free their C object exactly once,
// also when an exception unwinds; a failed call throws mvt::Error (status + mvt_last_error()).

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
    if (!mvt::abi_compatible()) throw std::runtime_error("libmvt ABI differs from mvt.h");
    mvt::Options options;
    options.threshold = args.threshold;
    options.top_k = args.top_k;

    const mvt::Model model(args.model, options);
    const mvt::Info info = model.info();
    std::printf("libmvt %s, ONNX Runtime %s (%s), %zu classes, threshold %g\n", mvt::version(),
                info.ort_version.c_str(), info.ort_library.c_str(), info.num_classes, info.threshold);

    const mvt::Dataset dataset(model, args.data, args.list);
    const std::vector<mvt_video> videos = dataset.videos();
    const std::vector<const char*> ids = dataset.ids();
    const size_t count = videos.size();
    for (const mvt::Dataset::SkippedRow& row : dataset.skipped()) {
        std::fprintf(stderr, "warning: %s line %zu (%s): %s\n", args.list.c_str(), row.line, row.name, row.reason);
    }

    const mvt::Result result = model.predict(videos);
    for (size_t i = 0; i < count; ++i) {
        const mvt::View<mvt_tag> tags = result.tags(i);
        std::printf("%s:", ids[i]);
        for (const mvt_tag& tag : tags) std::printf(" %s (%.3f)", tag.name, tag.score);
        if (tags.empty()) std::printf(" (no tag >= %g)", info.threshold);
        if (args.top_k > 0) {
            const mvt::View<mvt_tag> best = result.top_k(i);
            std::printf("  | top %zu:", best.size());
            for (const mvt_tag& tag : best) std::printf(" %s (%.3f)", tag.name, tag.score);
        }
        std::printf("\n");
    }
    if (!args.out.empty()) write_file(args.out, result.json(ids).str());
    if (!args.probs.empty()) {
        // {"video id": [p0, p1, ...], ...} with every float printed exactly (9 significant digits round-trip f32).
        std::string text = "{";
        for (size_t i = 0; i < count; ++i) {
            const mvt::View<float> probs = result.probabilities(i);
            text += (i ? ",\n" : "\n") + quoted(ids[i]) + ": [";
            for (size_t k = 0; k < probs.size(); ++k) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%s%.9g", k ? ", " : "", static_cast<double>(probs[k]));
                text += buf;
            }
            text += "]";
        }
        write_file(args.probs, text + "\n}\n");
    }
    std::printf("tagged %zu videos on %s\n", count, info.provider.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const mvt::Error& e) {
        std::fprintf(stderr, "mvt_demo: %s (status %d)\n", e.what(), e.status());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mvt_demo: %s\n", e.what());
        return 1;
    }
}
