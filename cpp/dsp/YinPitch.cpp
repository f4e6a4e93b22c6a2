#include "YinPitch.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "ArgumentError.h"
#include "RealFft.h"
#include "SampleGuard.h"

namespace tonemorph {

namespace {

// Below -120 dBFS (mean square over the integration window) there is no pitch to report.
constexpr double kSilenceMeanSquare = 1.0e-12;

// The float FFT's correlation carries a roundoff of about 3e-8 sqrt(E_window E_history) (measured);
// d(tau) is only resolved above that, so that much is added to every d(tau) before normalising. Without
// it a window whose differences are pure roundoff (quiet after loud) would show spurious zero dips.
constexpr double kRoundoff = 1.0e-6;

// Octave guard. Weak odd harmonics make d'(T/2) a dip of depth ~ 2 (odd-harmonic power / total power),
// which can pass the threshold before the true period T does. Such a dip is replaced by the one near
// k tau when that is deeper by a clear margin (depths interpolated: at high f0 the integer lags miss
// the true period's dip by up to half a sample, and a multiple can fall closer to the grid). A clean
// periodic signal has d' ~ 0 at every multiple of its period, so it never moves.
constexpr float kOctaveMargin = 0.05f;
constexpr float kOctaveDeeper = 0.5f;  // and the multiple's depth below this fraction of tau's
constexpr int kOctaveMaxMultiple = 3;

// Newton steps that refine the period (three reach a hundredth of a cent on clean tones).
constexpr int kNewtonSteps = 3;

constexpr double kPi = 3.14159265358979323846;

// Frames longer than this are refused: they would cost seconds of latency and megabytes per instance.
constexpr double kMaxLagSeconds = 1.0;

std::size_t power_of_two_at_least(std::size_t n) {
    std::size_t size = 2;
    while (size < n) size *= 2;
    return size;
}

}  // namespace

struct YinPitch::Impl {
    int window = 0;          // W
    int tau_min = 0;         // shortest lag searched, floor(sr / fmax)
    int tau_search_max = 0;  // longest lag searched, ceil(sr / fmin)
    int tau_max = 0;         // tau_search_max + 1: parabolic interpolation reads one lag further
    int history = 0;         // W + tau_max
    int latency = 0;

    std::unique_ptr<RealFft> fft;
    std::vector<float> segment;      // the history less the window's mean, zero padded to the FFT size
    std::vector<float> recent;       // its last W samples at the start, zero padded
    std::vector<float> correlation;  // N * sum_j recent[j] segment[j + m]
    std::vector<std::complex<float>> segment_spectrum, recent_spectrum;
    std::vector<double> energy;     // prefix sums of segment^2, history + 1
    std::vector<float> diff, cmnd;  // d(tau), d'(tau) for tau = 0 .. tau_max

    std::vector<float> ring;  // 2 * history: every sample is written twice, so the last `history`
    int write = 0;            // samples always sit contiguously at ring[write .. write + history)
    int phase = 0;            // samples into the current hop
    float held_f0 = 0.0f;

    // Lowest d' within [lo, hi] (clipped to the search range); returns -1 when empty.
    int deepest(int lo, int hi) const {
        lo = std::max(lo, tau_min);
        hi = std::min(hi, tau_search_max);
        if (lo > hi) return -1;
        int best = lo;
        for (int tau = lo + 1; tau <= hi; ++tau)
            if (cmnd[tau] < cmnd[best]) best = tau;
        return best;
    }

    // Newton on d(tau) = E_recent + E_lag(tau) - 2 c(tau_max - tau) between integer lags, with the
    // correlation interpolated from its spectrum P = conj(R) G (the inverse real FFT at a fractional m)
    // and E_lag linearly:
    //   c(m) = (1/N) sum_b w_b Re(P_b e^{i k b m}),  k = 2 pi / N,  w_b = 1 at b = 0 and N/2, else 2
    //   c'(m) = -(1/N) sum_b w_b k b Im(P_b z_b),  c''(m) = -(1/N) sum_b w_b (k b)^2 Re(P_b z_b)
    //   d'(tau) = -dE_lag/dm + 2 c'(m),  d''(tau) = -2 c''(m)
    // Stays within one lag of the integer minimum t; returns the period in samples.
    double refine(int t, double start) const {
        const double n = static_cast<double>(fft->size());
        const double k = 2.0 * kPi / n;
        const std::size_t nyquist = segment_spectrum.size() - 1;
        double tau = start;
        for (int step = 0; step < kNewtonSteps; ++step) {
            const double m = tau_max - tau;
            const std::complex<double> rotate = std::polar(1.0, k * m);
            std::complex<double> z = 1.0;
            double slope = 0.0, bend = 0.0;
            for (std::size_t b = 0; b <= nyquist; ++b) {
                const double w = (b == 0 || b == nyquist) ? 1.0 : 2.0;
                const std::complex<double> pz = std::complex<double>(segment_spectrum[b]) * z;
                const double kb = k * static_cast<double>(b);
                slope -= w * kb * pz.imag();
                bend -= w * kb * kb * pz.real();
                z *= rotate;
            }
            const int mi = std::clamp(static_cast<int>(std::floor(m)), 0, tau_max - 1);
            const double energy_slope =
                (energy[mi + 1 + window] - energy[mi + 1]) - (energy[mi + window] - energy[mi]);
            const double gradient = -energy_slope + 2.0 * slope / n;
            const double curvature = -2.0 * bend / n;
            if (!(curvature > 0.0)) break;
            tau = std::clamp(tau - gradient / curvature, t - 1.0, t + 1.0);
        }
        return tau;
    }

    // Vertex of the parabola through d' at tau - 1, tau, tau + 1:  y1 - (y0 - y2)^2 / (8 (y0 - 2 y1 + y2))
    float depth(int tau) const {
        const float y0 = cmnd[tau - 1], y1 = cmnd[tau], y2 = cmnd[tau + 1];
        const float curvature = y0 - 2.0f * y1 + y2;
        if (!(curvature > 0.0f)) return y1;
        return std::clamp(y1 - (y0 - y2) * (y0 - y2) / (8.0f * curvature), 0.0f, y1);
    }
};

YinPitch::YinPitch() : impl_(std::make_unique<Impl>()) {}
YinPitch::~YinPitch() = default;

void YinPitch::prepare(const Spec& spec) {
    const double sr = spec.sample_rate;
    if (!(sr > 0.0) || !std::isfinite(sr))
        throw argument_error("YinPitch: sample_rate must be a positive number of Hz, got ", sr);
    if (spec.hop < 1) throw argument_error("YinPitch: hop must be at least 1 sample, got ", spec.hop);
    if (!(spec.fmin_hz * kMaxLagSeconds >= 1.0) || !std::isfinite(spec.fmin_hz))
        throw argument_error("YinPitch: fmin_hz must be at least ", 1.0 / kMaxLagSeconds, " Hz, got ",
                             spec.fmin_hz);
    if (!(spec.fmax_hz > spec.fmin_hz) || !(spec.fmax_hz <= sr / 2.0))
        throw argument_error("YinPitch: fmax_hz must lie above fmin_hz (", spec.fmin_hz,
                             " Hz) and at most at Nyquist (", sr / 2.0, " Hz), got ", spec.fmax_hz);
    if (!(spec.window_ms > 0.0) || !(spec.window_ms <= 1000.0 * kMaxLagSeconds) ||
        std::lround(spec.window_ms * sr / 1000.0) < 2)
        throw argument_error("YinPitch: window_ms must span at least 2 samples and at most ",
                             1000.0 * kMaxLagSeconds, " ms, got ", spec.window_ms, " ms");
    if (!(spec.threshold > 0.0 && spec.threshold < 1.0))
        throw argument_error("YinPitch: threshold must lie in (0, 1) (0.1 .. 0.2 is usual), got ",
                             spec.threshold);

    spec_ = spec;
    Impl& s = *impl_;
    s.window = static_cast<int>(std::lround(spec.window_ms * sr / 1000.0));
    s.tau_min = std::max(2, static_cast<int>(std::floor(sr / spec.fmax_hz)));
    s.tau_search_max = std::max(s.tau_min, static_cast<int>(std::ceil(sr / spec.fmin_hz)));
    s.tau_max = s.tau_search_max + 1;
    s.history = s.window + s.tau_max;
    // d(tau) compares the window with its copy tau earlier, so an estimate belongs to (W + tau) / 2
    // before the frame end; tau is taken at the geometric centre of the search range.
    const double tau_centre = sr / std::sqrt(spec.fmin_hz * spec.fmax_hz);
    s.latency = static_cast<int>(std::lround(0.5 * (s.window + tau_centre)));

    const std::size_t n = power_of_two_at_least(static_cast<std::size_t>(s.history));
    s.fft = std::make_unique<RealFft>(n);
    s.segment.assign(n, 0.0f);
    s.recent.assign(n, 0.0f);
    s.correlation.assign(n, 0.0f);
    s.segment_spectrum.assign(s.fft->bins(), {});
    s.recent_spectrum.assign(s.fft->bins(), {});
    s.energy.assign(static_cast<std::size_t>(s.history) + 1, 0.0);
    s.diff.assign(static_cast<std::size_t>(s.tau_max) + 1, 0.0f);
    s.cmnd.assign(static_cast<std::size_t>(s.tau_max) + 1, 1.0f);
    s.ring.assign(2 * static_cast<std::size_t>(s.history), 0.0f);
    reset();
}

void YinPitch::reset() {
    Impl& s = *impl_;
    std::fill(s.ring.begin(), s.ring.end(), 0.0f);
    s.write = 0;
    s.phase = 0;
    s.held_f0 = 0.0f;
}

int YinPitch::history_size() const { return impl_->history; }
int YinPitch::latency_samples() const { return impl_->latency; }

int YinPitch::process(const float* in, int n, PitchEstimate* out) {
    Impl& s = *impl_;
    int count = 0;
    for (int i = 0; i < n; ++i) {
        s.ring[s.write] = in[i];
        s.ring[s.write + s.history] = in[i];
        if (++s.write == s.history) s.write = 0;
        if (++s.phase == spec_.hop) {
            s.phase = 0;
            out[count++] = analyse(s.ring.data() + s.write + s.history);
        }
    }
    return count;
}

PitchEstimate YinPitch::analyse(const float* history_end) {
    Impl& s = *impl_;
    const int W = s.window;
    const int L = s.history;
    const float* x = history_end - L;

    // The difference function is blind to DC, but its FFT form (energies minus 2 acf) cancels large
    // terms: removing the window's mean first keeps that cancellation small, and leaves a silent
    // window exactly silent.
    double sum = 0.0;
    for (int i = 0; i < L; ++i) {
        const float v = guard_sample(x[i]);
        s.segment[i] = v;
        if (i >= s.tau_max) sum += v;
    }
    const float mean = static_cast<float>(sum / W);
    s.energy[0] = 0.0;
    for (int i = 0; i < L; ++i) {
        const float v = s.segment[i] - mean;
        s.segment[i] = v;
        s.energy[i + 1] = s.energy[i] + static_cast<double>(v) * v;
    }

    const double recent_energy = s.energy[L] - s.energy[s.tau_max];
    PitchEstimate est;
    est.f0_hz = s.held_f0;
    if (recent_energy < kSilenceMeanSquare * W) return est;

    // c[m] = sum_{j<W} r[j] g[j + m], r = last W samples of g; no wrap-around while N >= L.
    //   = irfft(conj(R) G)[m] / N
    std::copy(s.segment.begin() + s.tau_max, s.segment.begin() + L, s.recent.begin());
    s.fft->forward(s.segment.data(), s.segment_spectrum.data());
    s.fft->forward(s.recent.data(), s.recent_spectrum.data());
    for (std::size_t b = 0; b < s.segment_spectrum.size(); ++b)
        s.segment_spectrum[b] *= std::conj(s.recent_spectrum[b]);
    s.fft->inverse(s.segment_spectrum.data(), s.correlation.data());

    // d(tau)  = E_recent + E_(tau earlier) - 2 c[tau_max - tau]
    // d'(tau) = (d(tau) + eps) tau / sum_{t=1}^{tau} (d(t) + eps),  d'(0) = 1,  eps: kRoundoff
    const double inv_n = 1.0 / static_cast<double>(s.fft->size());
    const double eps = kRoundoff * std::sqrt(recent_energy * s.energy[L]);
    s.diff[0] = 0.0f;
    s.cmnd[0] = 1.0f;
    double running = 0.0;
    for (int tau = 1; tau <= s.tau_max; ++tau) {
        const int m = s.tau_max - tau;
        const double lagged_energy = s.energy[m + W] - s.energy[m];
        const double d = std::max(0.0, recent_energy + lagged_energy - 2.0 * inv_n * s.correlation[m]);
        s.diff[tau] = static_cast<float>(d);
        running += d + eps;
        s.cmnd[tau] = static_cast<float>((d + eps) * tau / running);
    }

    // YIN step 4: the first lag below the threshold, walked down to its local minimum; else the
    // global minimum (an unvoiced frame).
    const float threshold = static_cast<float>(spec_.threshold);
    int tau = -1;
    for (int t = s.tau_min; t <= s.tau_search_max; ++t) {
        if (s.cmnd[t] < threshold) {
            while (t < s.tau_search_max && s.cmnd[t + 1] < s.cmnd[t]) ++t;
            tau = t;
            break;
        }
    }
    const bool voiced = tau >= 0;
    if (!voiced) tau = s.deepest(s.tau_min, s.tau_search_max);

    if (voiced) {
        // Octave guard: climb to k * tau while that dip is clearly deeper (see kOctaveMargin).
        for (bool moved = true; moved && s.depth(tau) > kOctaveMargin;) {
            moved = false;
            const float here = s.depth(tau);
            for (int k = 2; k <= kOctaveMaxMultiple; ++k) {
                const int c = s.deepest(k * tau - k, k * tau + k);
                if (c < 0) continue;
                const float there = s.depth(c);
                if (there < kOctaveDeeper * here && here - there > kOctaveMargin) {
                    tau = c;
                    moved = true;
                    break;
                }
            }
        }
    }

    est.confidence = std::clamp(1.0f - s.cmnd[tau], 0.0f, 1.0f);
    if (voiced) {
        // YIN step 5: parabolic interpolation of the raw d around tau (d' is biased by its tau factor),
        //   delta = (d[t-1] - d[t+1]) / (2 (d[t-1] - 2 d[t] + d[t+1])),
        // then Newton steps on the band-limited d (the parabola is biased by cents at high f0).
        const double d0 = s.diff[tau - 1], d1 = s.diff[tau], d2 = s.diff[tau + 1];
        const double curvature = d0 - 2.0 * d1 + d2;
        const double delta = curvature > 0.0 ? std::clamp(0.5 * (d0 - d2) / curvature, -1.0, 1.0) : 0.0;
        s.held_f0 = static_cast<float>(spec_.sample_rate / s.refine(tau, tau + delta));
        est.f0_hz = s.held_f0;
    }
    return est;
}

}  // namespace tonemorph
