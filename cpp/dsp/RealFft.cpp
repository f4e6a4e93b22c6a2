#include "RealFft.h"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>

#if TONEMORPH_FFTW
#include <fftw3.h>

#include <mutex>
#else
#include <kiss_fftr.h>
#endif

namespace tonemorph {

bool RealFft::supported(std::size_t size) {
    if (size == 0 || size % 2 != 0) return false;
    std::size_t n = size / 2;
    for (std::size_t p : {2, 3, 5})
        while (n % p == 0) n /= p;
    return n == 1;
}

namespace {
void require_supported(std::size_t size) {
    if (!RealFft::supported(size))
        throw std::invalid_argument("RealFft: size must be even with size/2 a product of 2, 3 and 5, got " +
                                    std::to_string(size));
}
}  // namespace

#if TONEMORPH_FFTW

static_assert(sizeof(fftwf_complex) == sizeof(std::complex<float>),
              "fftwf_complex and std::complex<float> must share a layout");

namespace {
// FFTW's planner is not thread-safe (plugin instances are made on any thread); executing a plan is.
std::mutex& planner_mutex() {
    static std::mutex m;
    return m;
}
}  // namespace

// The plans run in place on buffers of FFTW's own alignment (so its SIMD codelets apply whatever the caller's
// arrays are); forward() and inverse() copy in and out, O(N) beside the transform's O(N log N).
struct RealFft::Plans {
    float* real = nullptr;
    fftwf_complex* spectrum = nullptr;
    fftwf_plan forward = nullptr, inverse = nullptr;
    ~Plans() {
        std::lock_guard<std::mutex> lock(planner_mutex());
        if (forward) fftwf_destroy_plan(forward);
        if (inverse) fftwf_destroy_plan(inverse);
        fftwf_free(real);
        fftwf_free(spectrum);
    }
};

const char* RealFft::backend() { return "fftw"; }

RealFft::RealFft(std::size_t size) : size_(size) {
    require_supported(size);
    plans_ = std::make_unique<Plans>();
    std::lock_guard<std::mutex> lock(planner_mutex());
    plans_->real = fftwf_alloc_real(size);
    plans_->spectrum = fftwf_alloc_complex(bins());
    if (!plans_->real || !plans_->spectrum) throw std::bad_alloc();
    const int n = static_cast<int>(size);
    // FFTW_ESTIMATE: no measuring (planning takes milliseconds and gives the same plan every run).
    plans_->forward = fftwf_plan_dft_r2c_1d(n, plans_->real, plans_->spectrum, FFTW_ESTIMATE);
    plans_->inverse = fftwf_plan_dft_c2r_1d(n, plans_->spectrum, plans_->real, FFTW_ESTIMATE);
    if (!plans_->forward || !plans_->inverse) throw std::bad_alloc();
}

RealFft::~RealFft() = default;

void RealFft::forward(const float* in, std::complex<float>* out) {
    std::copy(in, in + size_, plans_->real);
    fftwf_execute(plans_->forward);
    const auto* spectrum = reinterpret_cast<const std::complex<float>*>(plans_->spectrum);
    std::copy(spectrum, spectrum + bins(), out);
}

void RealFft::inverse(const std::complex<float>* in, float* out) {
    std::copy(in, in + bins(), reinterpret_cast<std::complex<float>*>(plans_->spectrum));
    fftwf_execute(plans_->inverse);
    std::copy(plans_->real, plans_->real + size_, out);
}

#else

static_assert(sizeof(kiss_fft_cpx) == sizeof(std::complex<float>),
              "kiss_fft_cpx and std::complex<float> must share a layout");

struct RealFft::Plans {
    kiss_fftr_state* forward = nullptr;
    kiss_fftr_state* inverse = nullptr;
    ~Plans() {
        kiss_fftr_free(forward);
        kiss_fftr_free(inverse);
    }
};

const char* RealFft::backend() { return "kissfft"; }

RealFft::RealFft(std::size_t size) : size_(size) {
    require_supported(size);
    plans_ = std::make_unique<Plans>();
    plans_->forward = kiss_fftr_alloc(static_cast<int>(size), 0, nullptr, nullptr);
    plans_->inverse = kiss_fftr_alloc(static_cast<int>(size), 1, nullptr, nullptr);
    if (!plans_->forward || !plans_->inverse) throw std::bad_alloc();
}

RealFft::~RealFft() = default;

void RealFft::forward(const float* in, std::complex<float>* out) {
    kiss_fftr(plans_->forward, in, reinterpret_cast<kiss_fft_cpx*>(out));
}

void RealFft::inverse(const std::complex<float>* in, float* out) {
    kiss_fftri(plans_->inverse, reinterpret_cast<const kiss_fft_cpx*>(in), out);
}

#endif

}  // namespace tonemorph
