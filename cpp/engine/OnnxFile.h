// An ONNX model file read without ONNX Runtime: the protobuf wire format (onnx/onnx.proto3) decoded with
// bounds checks on every length, so a hostile or truncated file is refused with a reason before any
// library sees it. Only what tonemorph needs: metadata, graph inputs/outputs, nodes, initializers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tonemorph {

// onnx.TensorProto.DataType values the engine understands.
enum class OnnxType : int { Undefined = 0, Float = 1, Int32 = 6, Int64 = 7, Bool = 9, Double = 11 };

struct OnnxTensor {
    std::string name;
    OnnxType type = OnnxType::Undefined;
    int raw_type = 0;                  // the file's data_type, also when it is not one of OnnxType
    std::vector<std::int64_t> dims;
    std::vector<double> values;        // every element as double (int64 exact up to 2^53)
    bool external = false;             // data stored outside the file (refused by the engine)
    std::size_t element_count() const;
};

struct OnnxAttribute {
    std::string name;
    int type = 0;  // onnx.AttributeProto.AttributeType: 1 float, 2 int, 3 string, 4 tensor, 6 floats, 7 ints
    double f = 0.0;
    std::int64_t i = 0;
    std::string s;
    std::vector<double> floats;
    std::vector<std::int64_t> ints;
    std::vector<OnnxTensor> tensors;  // 0 or 1
};

struct OnnxNode {
    std::string op_type, domain, name;
    std::vector<std::string> inputs, outputs;
    std::vector<OnnxAttribute> attributes;
    const OnnxAttribute* attribute(const std::string& name) const;
};

struct OnnxValueInfo {
    std::string name;
    int elem_type = 0;
    bool has_shape = false;
    std::vector<std::int64_t> dims;  // -1 where the dimension is symbolic or unknown
};

// The value named `name` in a graph's inputs or outputs, or nullptr.
const OnnxValueInfo* find_value(const std::vector<OnnxValueInfo>& values, const std::string& name);

struct OnnxGraph {
    std::vector<OnnxNode> nodes;
    std::vector<OnnxTensor> initializers;
    std::vector<OnnxValueInfo> inputs, outputs;
};

struct OnnxFile {
    std::int64_t ir_version = 0;
    std::map<std::string, std::int64_t> opsets;  // domain ("" = ai.onnx) -> version
    std::map<std::string, std::string> metadata;
    OnnxGraph graph;

    // Reads and decodes `path`. Throws std::runtime_error with the reason (the caller names the file):
    // unreadable, larger than max_bytes, not an ONNX protobuf, truncated, or a field out of bounds.
    static OnnxFile read(const std::string& path, std::size_t max_bytes);
    static OnnxFile parse(const std::string& bytes);

private:
    static OnnxFile parse_model(const std::string& bytes);
};

}  // namespace tonemorph
