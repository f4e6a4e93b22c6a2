// The MIDI file reader under AddressSanitizer and UndefinedBehaviorSanitizer (tests/test_midi_tools.py builds
// and runs it): every file given, then `rounds` mutated and cut copies of each, must end in a clip or a
// MidiError; any other exception, a sanitizer report or a hang fails the test.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "midi/SmfReader.h"

int main(int argc, char** argv) {
    if (argc < 3) return 2;
    const long rounds = std::stol(argv[1]);
    std::uint64_t x = 0x9E3779B97F4A7C15ULL;
    auto next = [&x] {  // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    long clips = 0, errors = 0;
    for (int f = 2; f < argc; ++f) {
        std::ifstream in(argv[f], std::ios::binary);
        const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (long r = 0; r <= rounds; ++r) {
            std::string data = good;
            if (r > 0 && !data.empty()) {
                for (std::uint64_t k = next() % 8 + 1; k > 0; --k) data[next() % data.size()] = static_cast<char>(next());
                if (r % 3 == 0) data.resize(next() % data.size());
            }
            try {
                const auto read = tonemorph::midi::read_smf(data, "'fuzz.mid'");
                clips += read.clip.steps > 0;
            } catch (const tonemorph::midi::MidiError&) {
                ++errors;
            }
        }
    }
    std::printf("%ld clips, %ld errors\n", clips, errors);
    return 0;
}
