// Eight threads predict on one handle at once; every result equals the serial one bit for bit.
//   test_threads MODEL.onnx DATA_DIR
#include "common.hpp"

#include <atomic>
#include <thread>

namespace {

int run(int argc, char** argv) {
    EXPECT(argc == 3);
    const mvt::Options options = options_with(3);  // fewer sessions than threads: some calls wait for a free one
    const mvt::Model model(argv[1], options);
    const mvt::Dataset dataset(model, argv[2], "val.txt");
    const std::vector<mvt_video> videos = dataset_videos(dataset);

    // Serial references: each video alone, and the whole list as one batch.
    std::vector<std::vector<float>> alone(videos.size());
    for (size_t i = 0; i < videos.size(); ++i) alone[i] = probabilities(model.predict(videos[i]), 0);
    std::vector<std::vector<float>> batched(videos.size());
    {
        const mvt::Result batch_result = model.predict(videos);
        for (size_t i = 0; i < videos.size(); ++i) batched[i] = probabilities(batch_result, i);
    }

    std::atomic<int> mismatches{0};
    std::atomic<size_t> calls{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (size_t step = 0; step < videos.size(); ++step) {
                size_t i = (step * 7 + t * 13) % videos.size();
                try {
                    if (probabilities(model.predict(videos[i]), 0) != alone[i]) ++mismatches;
                } catch (const mvt::Error& error) {
                    std::fprintf(stderr, "thread %d: %s\n", t, error.what());
                    ++mismatches;
                }
                ++calls;
                if (step % 25 == static_cast<size_t>(t) % 25) {  // now and then the whole list at once
                    try {
                        const mvt::Result result = model.predict(videos);
                        for (size_t k = 0; k < videos.size(); ++k)
                            if (probabilities(result, k) != batched[k]) ++mismatches;
                    } catch (const mvt::Error& error) {
                        std::fprintf(stderr, "thread %d: %s\n", t, error.what());
                        ++mismatches;
                    }
                    ++calls;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT(mismatches.load() == 0);
    std::printf("%zu concurrent calls from 8 threads matched the serial results\n", calls.load());
    return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_test(run, argc, argv); }
