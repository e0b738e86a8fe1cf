/* mvt.hpp: a header-only C++17 wrapper of libmvt's C API (mvt.h). Hand-written, not generated. */
/*
 * The C API with owning, move-only types that free in their destructors, exceptions instead of status codes, and
 * views of the arrays a result owns:
 *
 *   mvt::Options options;                 // mvt_default_options; then set fields: options.top_k = 3;
 *   mvt::Model model("model.onnx", options);
 *   mvt::Result result = model.predict(videos);            // std::vector<mvt_video>, borrowed during the call
 *   for (const mvt_tag& tag : result.tags(0)) std::printf("%s %.3f\n", tag.name, tag.score);
 *   mvt::String json = result.json();                      // freed by its destructor
 *
 * Errors: every failure throws mvt::Error, a std::runtime_error whose what() is the mvt_last_error() text of the
 * failed call and whose status() is its mvt_status. The C functions that report failure by returning NULL instead
 * of a status (mvt_class_name, the mvt_result_* accessors, mvt_result_json) keep no status: for them the wrapper
 * derives it from what it passed, as each function's comment says; the message is always the library's.
 * Besides, std::bad_alloc where allocating a std::string or std::vector fails.
 *
 * Ownership: Model, Result, Dataset and String each own one C object and free it (mvt_free, mvt_result_free,
 * mvt_dataset_free, mvt_string_free) in their destructors; they move, never copy. A moved-from or default-
 * constructed object is empty (get() == nullptr); calls on an empty object fail with MVT_ERR_NULL_POINTER, as the
 * C functions do for NULL. View<T>, const char* ids and the mvt_video structs a Dataset hands out borrow from the
 * object they came from and are valid as long as it lives (a Result stays valid after its Model is destroyed; a
 * Dataset too). Options is a plain value (an mvt_options); Info and std::string / std::vector results are copies.
 *
 * Threads: as in C. The const member functions of Model, Result and Dataset may be called from any number of
 * threads at once on one object (Model::predict runs up to options.sessions calls in parallel, the rest wait).
 * Moving, assigning or destroying an object must not overlap any other use of it.
 */
#ifndef MVT_HPP
#define MVT_HPP

#include "mvt.h"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mvt {

/// A failed libmvt call: what() is the library's message (mvt_last_error() right after the call), status() the
/// C status code.
class Error : public std::runtime_error {
public:
    Error(mvt_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    mvt_status status() const noexcept { return status_; }

private:
    mvt_status status_;
};

namespace detail {

/// Throws Error(status, mvt_last_error()) unless `status` is MVT_OK.
inline void check(mvt_status status) {
    if (status != MVT_OK) throw Error(status, mvt_last_error());
}

/// Throws Error(status, mvt_last_error()) for a C function that returned NULL; `status` is the one its arguments
/// imply (the C function keeps none).
[[noreturn]] inline void fail(mvt_status status) { throw Error(status, mvt_last_error()); }

/// The status of a NULL-returning accessor: a NULL handle is MVT_ERR_NULL_POINTER, else the only failure left is
/// an index out of range.
inline mvt_status accessor_status(const void* handle) noexcept {
    return handle == nullptr ? MVT_ERR_NULL_POINTER : MVT_ERR_INVALID_ARGUMENT;
}

}  // namespace detail

/// The library's version ("0.1.0"): static, never NULL.
inline const char* version() noexcept { return mvt_version(); }

/// Whether the library's ABI is the one this header describes (mvt_abi_version() == MVT_ABI_VERSION). Check it
/// once at start-up when the library may come from elsewhere than the header.
inline bool abi_compatible() noexcept { return mvt_abi_version() == MVT_ABI_VERSION; }

/// The message of the last failed call on this thread (a copy of mvt_last_error()).
inline std::string last_error() { return mvt_last_error(); }

/// A read-only view of `size()` elements owned by another object (a Result or a Dataset): valid as long as that
/// object lives. Iterable; to_vector() copies.
template <typename T>
class View {
public:
    using value_type = T;
    using const_iterator = const T*;

    constexpr View() noexcept = default;
    constexpr View(const T* data, std::size_t size) noexcept : data_(data), size_(size) {}

    constexpr const T* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr const T* begin() const noexcept { return data_; }
    constexpr const T* end() const noexcept { return data_ + size_; }
    /// Unchecked, like std::vector's.
    constexpr const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    /// Checked: throws std::out_of_range.
    const T& at(std::size_t i) const {
        if (i >= size_) throw std::out_of_range("mvt::View::at: index out of range");
        return data_[i];
    }
    std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

private:
    const T* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Load options: a value type (copy it freely) holding an mvt_options as mvt_default_options fills it; set its
/// fields directly (options.sessions = 2; options.top_k = 3). `ort_library`, when set, is borrowed: the string must
/// live until the Model is constructed. Construction never fails in practice (it would throw Error).
struct Options : mvt_options {
    Options() : mvt_options() { detail::check(mvt_default_options(this, sizeof(mvt_options))); }
};

/// What a model reports (mvt_model_info), copied: valid after the Model is gone.
struct Info {
    std::size_t num_classes = 0;
    std::size_t rgb_dim = 0;
    std::size_t audio_dim = 0;
    /// Max title tokens including [CLS] and [SEP].
    std::size_t text_max_len = 0;
    /// Zero rows that stand in for a video without audio.
    std::size_t empty_audio_frames = 0;
    /// The threshold tags are cut at.
    double threshold = 0.0;
    /// Sessions in the pool.
    std::size_t sessions = 0;
    /// "cpu" or "cuda:<id>".
    std::string provider;
    std::string ort_version;
    std::string ort_library;
};

/// A string the library allocated (mvt_result_json), freed by mvt_string_free in the destructor. Move-only.
class String {
public:
    String() noexcept = default;
    /// Adopts `text` (from mvt_result_json, or NULL).
    explicit String(char* text) noexcept : text_(text) {}
    String(String&& other) noexcept : text_(std::exchange(other.text_, nullptr)) {}
    String& operator=(String&& other) noexcept {
        if (this != &other) {
            mvt_string_free(text_);
            text_ = std::exchange(other.text_, nullptr);
        }
        return *this;
    }
    String(const String&) = delete;
    String& operator=(const String&) = delete;
    ~String() { mvt_string_free(text_); }

    /// The NUL-terminated text, owned by this object ("" when empty, never NULL).
    const char* c_str() const noexcept { return text_ ? text_ : ""; }
    std::string_view view() const noexcept { return c_str(); }
    std::string str() const { return c_str(); }
    std::size_t size() const noexcept { return view().size(); }
    bool empty() const noexcept { return size() == 0; }
    /// The C string; NULL when empty.
    char* get() const noexcept { return text_; }
    /// Gives up ownership: the caller frees the returned string with mvt_string_free.
    char* release() noexcept { return std::exchange(text_, nullptr); }

private:
    char* text_ = nullptr;
};

/// The predictions of one Model::predict call (an mvt_result), freed by mvt_result_free in the destructor.
/// Move-only; immutable, so its const member functions are thread-safe. Independent of the Model: it stays valid
/// after the Model is destroyed. Accessors take the video's index in the batch predicted and fail with
/// MVT_ERR_INVALID_ARGUMENT when it is >= size().
class Result {
public:
    Result() noexcept = default;
    /// Adopts `handle` (from mvt_predict, or NULL).
    explicit Result(mvt_result* handle) noexcept : handle_(handle) {}
    Result(Result&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Result& operator=(Result&& other) noexcept {
        if (this != &other) {
            mvt_result_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    ~Result() { mvt_result_free(handle_); }

    mvt_result* get() const noexcept { return handle_; }
    /// Gives up ownership: the caller frees the returned result with mvt_result_free.
    mvt_result* release() noexcept { return std::exchange(handle_, nullptr); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// Number of videos (0 when empty; never throws).
    std::size_t size() const noexcept { return handle_ ? mvt_result_count(handle_) : 0; }

    /// The probabilities of video `video`, one per class, class order.
    View<float> probabilities(std::size_t video) const { return floats(mvt_result_probabilities, video); }
    /// The tags of video `video` (classes with probability >= threshold), best first; possibly none.
    View<mvt_tag> tags(std::size_t video) const { return tag_view(mvt_result_tags, video); }
    /// The options.top_k best classes of video `video`, best first.
    View<mvt_tag> top_k(std::size_t video) const { return tag_view(mvt_result_top_k, video); }
    /// Attention over video `video`'s image frames.
    View<float> rgb_attention(std::size_t video) const { return floats(mvt_result_rgb_attention, video); }
    /// Attention over the audio segments the model saw.
    View<float> audio_attention(std::size_t video) const { return floats(mvt_result_audio_attention, video); }

    /// The original's output.json with ids "0", "1", ...
    String json() const { return json_with(nullptr); }
    /// The original's output.json with the given video ids (UTF-8, one per video; borrowed during the call).
    /// Fails with MVT_ERR_INVALID_ARGUMENT when ids.size() != size() (a message of the wrapper's own then),
    /// MVT_ERR_NULL_POINTER for a NULL id, MVT_ERR_INVALID_UTF8 for an id that is not UTF-8.
    String json(const std::vector<const char*>& ids) const {
        if (ids.size() != size()) {
            throw Error(MVT_ERR_INVALID_ARGUMENT, "mvt::Result::json: " + std::to_string(ids.size()) +
                                                      " ids for " + std::to_string(size()) + " videos");
        }
        return json_with(ids.data());
    }
    String json(const std::vector<std::string>& ids) const {
        std::vector<const char*> pointers;
        pointers.reserve(ids.size());
        for (const std::string& id : ids) pointers.push_back(id.c_str());
        return json(pointers);
    }

private:
    using FloatAccessor = const float* (*)(const mvt_result*, std::size_t, std::size_t*);
    using TagAccessor = const mvt_tag* (*)(const mvt_result*, std::size_t, std::size_t*);

    View<float> floats(FloatAccessor accessor, std::size_t video) const {
        std::size_t count = 0;
        const float* data = accessor(handle_, video, &count);
        if (data == nullptr) detail::fail(detail::accessor_status(handle_));
        return View<float>(data, count);
    }
    View<mvt_tag> tag_view(TagAccessor accessor, std::size_t video) const {
        std::size_t count = 0;
        const mvt_tag* data = accessor(handle_, video, &count);
        if (data == nullptr) detail::fail(detail::accessor_status(handle_));
        return View<mvt_tag>(data, count);
    }
    String json_with(const char* const* ids) const {
        char* text = mvt_result_json(handle_, ids);
        if (text == nullptr) {
            bool null_id = false;
            for (std::size_t i = 0; ids != nullptr && i < size(); ++i) null_id = null_id || ids[i] == nullptr;
            detail::fail(handle_ == nullptr || null_id ? MVT_ERR_NULL_POINTER : MVT_ERR_INVALID_UTF8);
        }
        return String(text);
    }

    mvt_result* handle_ = nullptr;
};

/// A loaded model file (an mvt_model), freed by mvt_free in the destructor. Move-only. Its const member functions
/// are thread-safe: any number of threads may predict on one Model at once.
class Model {
public:
    /// An empty Model (no handle); every call fails with MVT_ERR_NULL_POINTER.
    Model() noexcept = default;
    /// Loads the model file at `path` (mvt_load; slow: it builds every session, do it once). Throws Error:
    /// MVT_ERR_NULL_POINTER (NULL path), MVT_ERR_INVALID_ARGUMENT (options), MVT_ERR_MODEL_FILE,
    /// MVT_ERR_MODEL_METADATA, MVT_ERR_RUNTIME_MISSING, MVT_ERR_RUNTIME_VERSION, MVT_ERR_DEVICE.
    explicit Model(const char* path, const Options& options = Options()) {
        detail::check(mvt_load(path, &options, &handle_));
    }
    explicit Model(const std::string& path, const Options& options = Options()) : Model(path.c_str(), options) {}
    /// Adopts `handle` (from mvt_load, or NULL).
    explicit Model(mvt_model* handle) noexcept : handle_(handle) {}
    Model(Model&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Model& operator=(Model&& other) noexcept {
        if (this != &other) {
            mvt_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    ~Model() { mvt_free(handle_); }

    mvt_model* get() const noexcept { return handle_; }
    /// Gives up ownership: the caller frees the returned handle with mvt_free.
    mvt_model* release() noexcept { return std::exchange(handle_, nullptr); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// The model's dims, class count, threshold, pool size, provider and ONNX Runtime (copied).
    Info info() const {
        mvt_info raw{};
        raw.struct_size = sizeof raw;
        detail::check(mvt_model_info(handle_, &raw));
        Info info;
        info.num_classes = raw.num_classes;
        info.rgb_dim = raw.rgb_dim;
        info.audio_dim = raw.audio_dim;
        info.text_max_len = raw.text_max_len;
        info.empty_audio_frames = raw.empty_audio_frames;
        info.threshold = raw.threshold;
        info.sessions = raw.sessions;
        info.provider = raw.provider;
        info.ort_version = raw.ort_version;
        info.ort_library = raw.ort_library;
        return info;
    }

    /// The name of class `index` (copied). Throws MVT_ERR_INVALID_ARGUMENT when index >= num_classes.
    std::string class_name(std::size_t index) const {
        const char* name = mvt_class_name(handle_, index);
        if (name == nullptr) detail::fail(detail::accessor_status(handle_));
        return name;
    }
    /// Every class name, class order.
    std::vector<std::string> class_names() const {
        std::vector<std::string> names(info().num_classes);
        for (std::size_t i = 0; i < names.size(); ++i) names[i] = class_name(i);
        return names;
    }

    /// The token ids the model gives `title` (UTF-8): [CLS] tokens [SEP], at most text_max_len ids, exactly as
    /// predict tokenizes. Throws MVT_ERR_INVALID_UTF8.
    std::vector<std::int64_t> tokenize(std::string_view title) const {
        std::vector<std::int64_t> ids(info().text_max_len);
        std::size_t count = 0;
        detail::check(mvt_tokenize(handle_, title.data(), title.size(), ids.data(), ids.size(), &count));
        ids.resize(count);
        return ids;
    }

    /// Tags `count` videos (borrowed during the call only; see mvt_video). Throws MVT_ERR_NULL_POINTER,
    /// MVT_ERR_DIMENSION, MVT_ERR_FRAME_COUNT, MVT_ERR_NON_FINITE, MVT_ERR_INVALID_UTF8, MVT_ERR_INFERENCE; the
    /// message names the offending video.
    Result predict(const mvt_video* videos, std::size_t count) const {
        mvt_result* raw = nullptr;
        detail::check(mvt_predict(handle_, videos, count, &raw));
        return Result(raw);
    }
    Result predict(const std::vector<mvt_video>& videos) const { return predict(videos.data(), videos.size()); }
    Result predict(const mvt_video& video) const { return predict(&video, 1); }

private:
    mvt_model* handle_ = nullptr;
};

/// The videos of a list file in the original's layout (an mvt_dataset), freed by mvt_dataset_free in the
/// destructor. Move-only; immutable, so its const member functions are thread-safe. Independent of the Model it
/// was opened with. The mvt_video structs and ids it hands out point into it.
class Dataset {
public:
    Dataset() noexcept = default;
    /// Reads every video of `list_file` (relative to `data_dir` or absolute) with `model`'s feature widths
    /// (mvt_dataset_open). Throws MVT_ERR_DATASET (unreadable class.txt or list, wrong widths).
    Dataset(const Model& model, const std::string& data_dir, const std::string& list_file) {
        detail::check(mvt_dataset_open(model.get(), data_dir.c_str(), list_file.c_str(), &handle_));
    }
    /// Adopts `handle` (from mvt_dataset_open, or NULL).
    explicit Dataset(mvt_dataset* handle) noexcept : handle_(handle) {}
    Dataset(Dataset&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Dataset& operator=(Dataset&& other) noexcept {
        if (this != &other) {
            mvt_dataset_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Dataset(const Dataset&) = delete;
    Dataset& operator=(const Dataset&) = delete;
    ~Dataset() { mvt_dataset_free(handle_); }

    mvt_dataset* get() const noexcept { return handle_; }
    /// Gives up ownership: the caller frees the returned dataset with mvt_dataset_free.
    mvt_dataset* release() noexcept { return std::exchange(handle_, nullptr); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// Number of videos (0 when empty; never throws).
    std::size_t size() const noexcept { return handle_ ? mvt_dataset_count(handle_) : 0; }

    /// Video `index`, pointing into the dataset, ready for Model::predict; `*id` (when `id` is not NULL) gets its
    /// name from the list file, also owned by the dataset. Throws MVT_ERR_INVALID_ARGUMENT when index >= size().
    mvt_video video(std::size_t index, const char** id = nullptr) const {
        mvt_video filled{};
        detail::check(mvt_dataset_video(handle_, index, &filled, id));
        return filled;
    }
    /// The name of video `index` (owned by the dataset).
    const char* id(std::size_t index) const {
        const char* name = nullptr;
        video(index, &name);
        return name;
    }
    /// Every video, in list order.
    std::vector<mvt_video> videos() const {
        std::vector<mvt_video> all(size());
        for (std::size_t i = 0; i < all.size(); ++i) all[i] = video(i);
        return all;
    }
    /// Every video's name, in list order (for Result::json).
    std::vector<const char*> ids() const {
        std::vector<const char*> all(size());
        for (std::size_t i = 0; i < all.size(); ++i) all[i] = id(i);
        return all;
    }

    /// A list-file row the reader left out: its 1-based line, its name and why (strings owned by the dataset).
    struct SkippedRow {
        std::size_t line;
        const char* name;
        const char* reason;
    };
    /// Every row left out, in list order (mvt_dataset_skipped); empty when none was.
    std::vector<SkippedRow> skipped() const {
        std::vector<SkippedRow> rows(handle_ ? mvt_dataset_skipped_count(handle_) : 0);
        for (std::size_t i = 0; i < rows.size(); ++i) {
            detail::check(mvt_dataset_skipped(handle_, i, &rows[i].line, &rows[i].name, &rows[i].reason));
        }
        return rows;
    }

private:
    mvt_dataset* handle_ = nullptr;
};

}  // namespace mvt

#endif /* MVT_HPP */
