// Eight threads predict on one handle at once; every result equals the serial one bit for bit.
//   test_threads MODEL.onnx DATA_DIR
#include "common.hpp"

#include <atomic>
#include <thread>

int main(int argc, char** argv) {
    EXPECT(argc == 3);
    mvt_options options = options_with(3);  // fewer sessions than threads: some calls wait for a free one
    mvt_model* model = nullptr;
    EXPECT(mvt_load(argv[1], &options, &model) == MVT_OK);
    mvt_dataset* dataset = nullptr;
    EXPECT(mvt_dataset_open(model, argv[2], "val.txt", &dataset) == MVT_OK);
    std::vector<mvt_video> videos = dataset_videos(dataset);

    // Serial references: each video alone, and the whole list as one batch.
    std::vector<std::vector<float>> alone(videos.size());
    for (size_t i = 0; i < videos.size(); ++i) {
        mvt_result* result = nullptr;
        EXPECT(mvt_predict(model, &videos[i], 1, &result) == MVT_OK);
        alone[i] = probabilities(result, 0);
        mvt_result_free(result);
    }
    mvt_result* batch_result = nullptr;
    EXPECT(mvt_predict(model, videos.data(), videos.size(), &batch_result) == MVT_OK);
    std::vector<std::vector<float>> batched(videos.size());
    for (size_t i = 0; i < videos.size(); ++i) batched[i] = probabilities(batch_result, i);
    mvt_result_free(batch_result);

    std::atomic<int> mismatches{0};
    std::atomic<size_t> calls{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (size_t step = 0; step < videos.size(); ++step) {
                size_t i = (step * 7 + t * 13) % videos.size();
                mvt_result* result = nullptr;
                if (mvt_predict(model, &videos[i], 1, &result) != MVT_OK || probabilities(result, 0) != alone[i]) ++mismatches;
                mvt_result_free(result);
                ++calls;
                if (step % 25 == static_cast<size_t>(t) % 25) {  // now and then the whole list at once
                    if (mvt_predict(model, videos.data(), videos.size(), &result) != MVT_OK) ++mismatches;
                    for (size_t k = 0; k < videos.size() && result; ++k)
                        if (probabilities(result, k) != batched[k]) ++mismatches;
                    mvt_result_free(result);
                    ++calls;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT(mismatches.load() == 0);
    mvt_dataset_free(dataset);
    mvt_free(model);
    std::printf("%zu concurrent calls from 8 threads matched the serial results\n", calls.load());
    return 0;
}
