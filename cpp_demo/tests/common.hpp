// Shared helpers of the C++ tests: failing checks that name the line, and a loaded model plus dataset.
#pragma once
#include <mvt.h>

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

// Expects `call` to return `status` and mvt_last_error() to mention `needle`.
#define EXPECT_STATUS(call, status, needle)                                                           \
    do {                                                                                              \
        mvt_status got_ = (call);                                                                     \
        if (got_ != (status) || std::string(mvt_last_error()).find(needle) == std::string::npos) {    \
            std::fprintf(stderr, "%s:%d: %s returned %d (expected %d), message \"%s\" (expected \"%s\")\n", \
                         __FILE__, __LINE__, #call, got_, (status), mvt_last_error(), (needle));      \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)

inline mvt_options options_with(size_t sessions) {
    mvt_options options;
    EXPECT(mvt_default_options(&options, sizeof options) == MVT_OK);
    options.sessions = sessions;
    options.intra_threads = 1;
    return options;
}

// The videos of <data>/val.txt, borrowed from `dataset`.
inline std::vector<mvt_video> dataset_videos(const mvt_dataset* dataset) {
    std::vector<mvt_video> videos(mvt_dataset_count(dataset));
    for (size_t i = 0; i < videos.size(); ++i) EXPECT(mvt_dataset_video(dataset, i, &videos[i], nullptr) == MVT_OK);
    EXPECT(!videos.empty());
    return videos;
}

inline std::vector<float> probabilities(const mvt_result* result, size_t video) {
    size_t n = 0;
    const float* p = mvt_result_probabilities(result, video, &n);
    EXPECT(p != nullptr && n > 0);
    return std::vector<float>(p, p + n);
}
