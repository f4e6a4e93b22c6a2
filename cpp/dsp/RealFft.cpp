#include "RealFft.h"

#include <kiss_fftr.h>

#include <stdexcept>
#include <string>

namespace tonemorph {

static_assert(sizeof(kiss_fft_cpx) == sizeof(std::complex<float>),
              "kiss_fft_cpx and std::complex<float> must share a layout");

bool RealFft::supported(std::size_t size) {
    if (size == 0 || size % 2 != 0) return false;
    std::size_t n = size / 2;
    for (std::size_t p : {2, 3, 5})
        while (n % p == 0) n /= p;
    return n == 1;
}

RealFft::RealFft(std::size_t size) : size_(size) {
    if (!supported(size))
        throw std::invalid_argument("RealFft: size must be even with size/2 a product of 2, 3 and 5, got " +
                                    std::to_string(size));
    forward_plan_ = kiss_fftr_alloc(static_cast<int>(size), 0, nullptr, nullptr);
    inverse_plan_ = kiss_fftr_alloc(static_cast<int>(size), 1, nullptr, nullptr);
    if (!forward_plan_ || !inverse_plan_) throw std::bad_alloc();
}

RealFft::~RealFft() {
    kiss_fftr_free(forward_plan_);
    kiss_fftr_free(inverse_plan_);
}

void RealFft::forward(const float* in, std::complex<float>* out) {
    kiss_fftr(forward_plan_, in, reinterpret_cast<kiss_fft_cpx*>(out));
}

void RealFft::inverse(const std::complex<float>* in, float* out) {
    kiss_fftri(inverse_plan_, reinterpret_cast<const kiss_fft_cpx*>(in), out);
}

}  // namespace tonemorph
