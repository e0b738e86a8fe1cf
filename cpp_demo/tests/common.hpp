// Shared helpers of the C++ tests: failing checks that name the line, and what the tests read from a dataset and a
// result. Ownership is mvt.hpp's (mvt::Model, mvt::Dataset, mvt::Result free themselves).
#pragma once
#include <mvt.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define EXPECT(condition)                                                                             \
    do {                                                                                              \
        if (!(condition)) {                                                                           \
            std::fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__,  \
                         #condition, mvt_last_error());                                               \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)

// Expects the C call `call` to return `status` and mvt_last_error() to mention `needle` (for what the C++ wrapper
// cannot express: NULL out-parameters, NULL structs).
#define EXPECT_STATUS(call, status, needle)                                                           \
    do {                                                                                              \
        mvt_status got_ = (call);                                                                     \
        if (got_ != (status) || std::string(mvt_last_error()).find(needle) == std::string::npos) {    \
            std::fprintf(stderr, "%s:%d: %s returned %d (expected %d), message \"%s\" (expected \"%s\")\n", \
                         __FILE__, __LINE__, #call, got_, (status), mvt_last_error(), (needle));      \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)

// Expects `expression` to throw mvt::Error with status `expected` and a message (what()) that mentions `needle`.
#define EXPECT_ERROR(expression, expected, needle)                                                    \
    do {                                                                                              \
        try {                                                                                         \
            (void)(expression);                                                                       \
            std::fprintf(stderr, "%s:%d: %s did not throw (expected status %d, \"%s\")\n", __FILE__,  \
                         __LINE__, #expression, (expected), (needle));                                \
            std::exit(1);                                                                             \
        } catch (const mvt::Error& error_) {                                                          \
            if (error_.status() != (expected) || std::string(error_.what()).find(needle) == std::string::npos) { \
                std::fprintf(stderr, "%s:%d: %s threw status %d (expected %d), message \"%s\" (expected \"%s\")\n", \
                             __FILE__, __LINE__, #expression, error_.status(), (expected), error_.what(), (needle)); \
                std::exit(1);                                                                         \
            }                                                                                         \
        }                                                                                             \
    } while (0)

inline mvt::Options options_with(size_t sessions) {
    mvt::Options options;
    options.sessions = sessions;
    options.intra_threads = 1;
    return options;
}

// The videos of the dataset's list, borrowed from `dataset`.
inline std::vector<mvt_video> dataset_videos(const mvt::Dataset& dataset) {
    std::vector<mvt_video> videos = dataset.videos();
    EXPECT(!videos.empty());
    return videos;
}

inline std::vector<float> probabilities(const mvt::Result& result, size_t video) {
    std::vector<float> p = result.probabilities(video).to_vector();
    EXPECT(!p.empty());
    return p;
}

// A test's main: runs `run` and turns an unexpected mvt::Error into a message and exit status 1.
inline int run_test(int (*run)(int, char**), int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const mvt::Error& error) {
        std::fprintf(stderr, "unexpected mvt::Error (status %d): %s\n", error.status(), error.what());
        return 1;
    }
}
