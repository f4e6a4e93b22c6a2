// The native decoder runner: an ONNX graph planned once for one frame (T = 1, batch 1) into a fixed list
// of steps over one float arena, run on the audio thread with no allocation, no lock and no ONNX Runtime.
// It knows the operators the DDSP decoders use (the MLP, GRU and output stacks and what the exporter adds
// around them: elementwise maths with broadcasting, MatMul/Gemm with constant weights, LayerNormalization,
// GRU, Concat/Split/Transpose and shape bookkeeping folded at plan time). A graph with anything else is
// refused with the reason (NativeUnsupported), and the engine runs it through ONNX Runtime instead.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "MatVec.h"
#include "OnnxFile.h"

namespace tonemorph {

class NativeUnsupported : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class NativeGraph final {
public:
    struct Slot {
        int offset = 0;  // into the arena
        int size = 0;    // elements
        std::vector<std::int64_t> shape;
    };

    // Plans `file`'s graph with every symbolic dimension of the inputs set to 1. Throws NativeUnsupported.
    static std::unique_ptr<const NativeGraph> plan(const OnnxFile& file, WeightFormat weights);
    ~NativeGraph();

    const Slot* input(const std::string& name) const;   // nullptr if the graph has no such input
    const Slot* output(const std::string& name) const;

    std::size_t arena_size() const { return arena_size_; }
    void init_arena(float* arena) const;  // constants in their slots, everything else zero
    void run(float* arena) const;         // one frame: reads the input slots, writes the output slots

    WeightFormat weights() const { return weights_; }
    std::size_t weight_count() const;  // elements in the matrices
    std::size_t weight_bytes() const;
    int matrix_count() const { return static_cast<int>(matrices_.size()); }

    struct Step;  // defined in NativeGraph.cpp

private:
    NativeGraph() = default;
    friend class NativePlanner;

    WeightFormat weights_ = WeightFormat::Float32;
    std::vector<std::pair<std::string, Slot>> inputs_, outputs_;
    std::vector<Step> steps_;
    std::vector<WeightMatrix> matrices_;
    std::vector<std::int32_t> maps_;                  // index maps for broadcasting and copies
    std::vector<std::pair<int, float>> constants_;    // (arena offset, value) written by init_arena
    std::size_t arena_size_ = 0;
};

}  // namespace tonemorph
