#include "OnnxFile.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tonemorph {

namespace {

constexpr std::size_t kMaxElements = std::size_t{1} << 28;  // per tensor: 1 GiB of float32

[[noreturn]] void corrupt(const std::string& what) { throw std::runtime_error(what); }

// Protobuf wire format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of
// (tag = field << 3 | wire type, value); wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
class Reader final {
public:
    Reader(const char* data, std::size_t size, const char* what) : p_(data), end_(data + size), what_(what) {}

    bool done() const { return p_ == end_; }

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ == end_) corrupt(std::string("truncated in ") + what_);
            const auto byte = static_cast<unsigned char>(*p_++);
            v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
            if (!(byte & 0x80)) return v;
        }
        corrupt(std::string("a number that does not end in ") + what_);
    }

    // Next field; false at the end of the message.
    bool next(int& field, int& wire) {
        if (done()) return false;
        const std::uint64_t tag = varint();
        field = static_cast<int>(tag >> 3);
        wire = static_cast<int>(tag & 7);
        if (field == 0) corrupt(std::string("field number 0 in ") + what_);
        return true;
    }

    Reader bytes(const char* what) {
        const std::uint64_t n = varint();
        if (n > static_cast<std::uint64_t>(end_ - p_)) corrupt(std::string("truncated in ") + what);
        Reader sub(p_, static_cast<std::size_t>(n), what);
        p_ += n;
        return sub;
    }
    std::string string() {
        Reader sub = bytes(what_);
        return std::string(sub.p_, sub.end_);
    }
    std::uint32_t fixed32() {
        if (end_ - p_ < 4) corrupt(std::string("truncated in ") + what_);
        std::uint32_t v;
        std::memcpy(&v, p_, 4);
        p_ += 4;
        return v;
    }
    std::uint64_t fixed64() {
        if (end_ - p_ < 8) corrupt(std::string("truncated in ") + what_);
        std::uint64_t v;
        std::memcpy(&v, p_, 8);
        p_ += 8;
        return v;
    }
    void skip(int wire) {
        switch (wire) {
            case 0: varint(); break;
            case 1: fixed64(); break;
            case 2: bytes(what_); break;
            case 5: fixed32(); break;
            default: corrupt(std::string("an unknown wire type in ") + what_);
        }
    }
    const char* data() const { return p_; }
    std::size_t size() const { return static_cast<std::size_t>(end_ - p_); }

private:
    const char* p_;
    const char* end_;
    const char* what_;
};

float as_float(std::uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
double as_double(std::uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

// A repeated scalar field, packed (wire type 2) or one value per entry.
template <typename Decode>
void repeated(Reader& r, int wire, int element_wire, Decode&& decode) {
    if (wire == 2) {
        Reader packed = r.bytes("a packed list");
        while (!packed.done()) decode(packed);
    } else if (wire == element_wire) {
        decode(r);
    } else {
        r.skip(wire);
    }
}

void check_count(std::size_t have, const char* what) {
    if (have > kMaxElements) corrupt(std::string("too many values in ") + what);
}

OnnxTensor parse_tensor(Reader r) {
    OnnxTensor t;
    std::string raw;
    bool has_raw = false;
    int field, wire;
    while (r.next(field, wire)) {
        switch (field) {
            case 1:  // dims
                repeated(r, wire, 0, [&](Reader& x) { t.dims.push_back(static_cast<std::int64_t>(x.varint())); });
                break;
            case 2: t.raw_type = static_cast<int>(r.varint()); break;
            case 4:  // float_data
                repeated(r, wire, 5, [&](Reader& x) { t.values.push_back(as_float(x.fixed32())); });
                check_count(t.values.size(), "a tensor");
                break;
            case 5:  // int32_data (also bool, int8, ...)
                repeated(r, wire, 0, [&](Reader& x) {
                    t.values.push_back(static_cast<double>(static_cast<std::int32_t>(x.varint())));
                });
                check_count(t.values.size(), "a tensor");
                break;
            case 7:  // int64_data
                repeated(r, wire, 0, [&](Reader& x) {
                    t.values.push_back(static_cast<double>(static_cast<std::int64_t>(x.varint())));
                });
                check_count(t.values.size(), "a tensor");
                break;
            case 8: t.name = r.string(); break;
            case 9:
                raw = r.string();
                has_raw = true;
                break;
            case 10:  // double_data
                repeated(r, wire, 1, [&](Reader& x) { t.values.push_back(as_double(x.fixed64())); });
                check_count(t.values.size(), "a tensor");
                break;
            case 13: t.external = true; r.skip(wire); break;
            case 14:
                if (r.varint() == 1) t.external = true;
                break;
            default: r.skip(wire);
        }
    }
    switch (t.raw_type) {
        case 1: t.type = OnnxType::Float; break;
        case 6: t.type = OnnxType::Int32; break;
        case 7: t.type = OnnxType::Int64; break;
        case 9: t.type = OnnxType::Bool; break;
        case 11: t.type = OnnxType::Double; break;
        default: t.type = OnnxType::Undefined;
    }
    for (std::int64_t d : t.dims)
        if (d < 0) corrupt("a tensor '" + t.name + "' with a negative dimension");
    const std::size_t count = t.element_count();
    if (has_raw && t.type != OnnxType::Undefined) {
        const std::size_t width = t.type == OnnxType::Float || t.type == OnnxType::Int32 ? 4
                                  : t.type == OnnxType::Bool                             ? 1
                                                                                         : 8;
        if (raw.size() != count * width)
            corrupt("tensor '" + t.name + "' holds " + std::to_string(raw.size()) + " bytes where its shape needs " +
                    std::to_string(count * width));
        t.values.resize(count);
        const char* p = raw.data();
        for (std::size_t i = 0; i < count; ++i, p += width) {  // little-endian, as ONNX stores raw_data
            switch (t.type) {
                case OnnxType::Float: { std::uint32_t b; std::memcpy(&b, p, 4); t.values[i] = as_float(b); break; }
                case OnnxType::Int32: { std::int32_t v; std::memcpy(&v, p, 4); t.values[i] = v; break; }
                case OnnxType::Int64: { std::int64_t v; std::memcpy(&v, p, 8); t.values[i] = static_cast<double>(v); break; }
                case OnnxType::Double: { std::uint64_t b; std::memcpy(&b, p, 8); t.values[i] = as_double(b); break; }
                case OnnxType::Bool: t.values[i] = *p ? 1.0 : 0.0; break;
                default: break;
            }
        }
    } else if (!t.external && t.type != OnnxType::Undefined && t.values.size() != count) {
        corrupt("tensor '" + t.name + "' holds " + std::to_string(t.values.size()) + " values where its shape needs " +
                std::to_string(count));
    }
    return t;
}

OnnxAttribute parse_attribute(Reader r) {
    OnnxAttribute a;
    int field, wire;
    while (r.next(field, wire)) {
        switch (field) {
            case 1: a.name = r.string(); break;
            case 2: a.f = as_float(r.fixed32()); break;
            case 3: a.i = static_cast<std::int64_t>(r.varint()); break;
            case 4: a.s = r.string(); break;
            case 5: a.tensors.push_back(parse_tensor(r.bytes("an attribute's tensor"))); break;
            case 7:
                repeated(r, wire, 5, [&](Reader& x) { a.floats.push_back(as_float(x.fixed32())); });
                check_count(a.floats.size(), "an attribute");
                break;
            case 8:
                repeated(r, wire, 0, [&](Reader& x) { a.ints.push_back(static_cast<std::int64_t>(x.varint())); });
                check_count(a.ints.size(), "an attribute");
                break;
            case 9:  // strings
                a.s = r.string();
                break;
            case 20: a.type = static_cast<int>(r.varint()); break;
            default: r.skip(wire);
        }
    }
    return a;
}

OnnxNode parse_node(Reader r) {
    OnnxNode n;
    int field, wire;
    while (r.next(field, wire)) {
        switch (field) {
            case 1: n.inputs.push_back(r.string()); break;
            case 2: n.outputs.push_back(r.string()); break;
            case 3: n.name = r.string(); break;
            case 4: n.op_type = r.string(); break;
            case 5: n.attributes.push_back(parse_attribute(r.bytes("a node attribute"))); break;
            case 7: n.domain = r.string(); break;
            default: r.skip(wire);
        }
    }
    return n;
}

// ValueInfoProto { 1 name, 2 TypeProto { 1 tensor_type { 1 elem_type, 2 shape { 1 dim { 1 value | 2 param } } } } }
OnnxValueInfo parse_value_info(Reader r) {
    OnnxValueInfo v;
    int field, wire;
    while (r.next(field, wire)) {
        if (field == 1) {
            v.name = r.string();
        } else if (field == 2 && wire == 2) {
            Reader type = r.bytes("a value's type");
            while (type.next(field, wire)) {
                if (field != 1 || wire != 2) {
                    type.skip(wire);
                    continue;
                }
                Reader tensor = type.bytes("a tensor type");
                while (tensor.next(field, wire)) {
                    if (field == 1 && wire == 0) {
                        v.elem_type = static_cast<int>(tensor.varint());
                    } else if (field == 2 && wire == 2) {
                        v.has_shape = true;
                        Reader shape = tensor.bytes("a shape");
                        while (shape.next(field, wire)) {
                            if (field != 1 || wire != 2) {
                                shape.skip(wire);
                                continue;
                            }
                            Reader dim = shape.bytes("a dimension");
                            std::int64_t value = -1;
                            while (dim.next(field, wire)) {
                                if (field == 1 && wire == 0) value = static_cast<std::int64_t>(dim.varint());
                                else dim.skip(wire);
                            }
                            v.dims.push_back(value < 0 ? -1 : value);
                            if (v.dims.size() > 64) corrupt("a shape of more than 64 dimensions");
                        }
                    } else {
                        tensor.skip(wire);
                    }
                }
            }
        } else {
            r.skip(wire);
        }
    }
    return v;
}

OnnxGraph parse_graph(Reader r) {
    OnnxGraph g;
    int field, wire;
    while (r.next(field, wire)) {
        if (wire != 2) {
            r.skip(wire);
            continue;
        }
        switch (field) {
            case 1: g.nodes.push_back(parse_node(r.bytes("a node"))); break;
            case 5: g.initializers.push_back(parse_tensor(r.bytes("an initializer"))); break;
            case 11: g.inputs.push_back(parse_value_info(r.bytes("a graph input"))); break;
            case 12: g.outputs.push_back(parse_value_info(r.bytes("a graph output"))); break;
            default: r.skip(wire);
        }
    }
    return g;
}

}  // namespace

std::size_t OnnxTensor::element_count() const {
    std::size_t n = 1;
    for (std::int64_t d : dims) {
        if (d < 0) return 0;
        if (d != 0 && n > kMaxElements / static_cast<std::size_t>(d)) corrupt("tensor '" + name + "' is too large");
        n *= static_cast<std::size_t>(d);
    }
    return n;
}

const OnnxAttribute* OnnxNode::attribute(const std::string& attribute_name) const {
    for (const auto& a : attributes)
        if (a.name == attribute_name) return &a;
    return nullptr;
}

OnnxFile OnnxFile::parse(const std::string& bytes) {
    try {
        return parse_model(bytes);
    } catch (const std::runtime_error& e) {
        corrupt(std::string("it is not an ONNX model, or it is damaged (") + e.what() + ")");
    }
}

OnnxFile OnnxFile::parse_model(const std::string& bytes) {
    OnnxFile file;
    Reader r(bytes.data(), bytes.size(), "the model");
    bool has_graph = false;
    int field, wire;
    while (r.next(field, wire)) {
        switch (field) {
            case 1:
                if (wire != 0) corrupt("not an ONNX model (ir_version is not a number)");
                file.ir_version = static_cast<std::int64_t>(r.varint());
                break;
            case 7:
                if (wire != 2) corrupt("not an ONNX model (the graph is not a message)");
                file.graph = parse_graph(r.bytes("the graph"));
                has_graph = true;
                break;
            case 8: {  // opset_import { 1 domain, 2 version }
                if (wire != 2) corrupt("not an ONNX model (opset_import is not a message)");
                Reader opset = r.bytes("opset_import");
                std::string domain;
                std::int64_t version = 0;
                while (opset.next(field, wire)) {
                    if (field == 1 && wire == 2) domain = opset.string();
                    else if (field == 2 && wire == 0) version = static_cast<std::int64_t>(opset.varint());
                    else opset.skip(wire);
                }
                file.opsets[domain] = version;
                break;
            }
            case 14: {  // metadata_props { 1 key, 2 value }
                if (wire != 2) corrupt("not an ONNX model (metadata_props is not a message)");
                Reader entry = r.bytes("metadata_props");
                std::string key, value;
                while (entry.next(field, wire)) {
                    if (field == 1 && wire == 2) key = entry.string();
                    else if (field == 2 && wire == 2) value = entry.string();
                    else entry.skip(wire);
                }
                file.metadata[key] = value;
                break;
            }
            default: r.skip(wire);
        }
    }
    if (file.ir_version <= 0 || !has_graph) corrupt("not an ONNX model (no ir_version or no graph)");
    return file;
}

OnnxFile OnnxFile::read(const std::string& path, std::size_t max_bytes) {
    namespace fs = std::filesystem;
    std::error_code error;
    // A FIFO, a device or a folder would block or stream forever: only regular files are read.
    const fs::file_status status = fs::status(fs::u8path(path), error);
    if (error || !fs::exists(status)) corrupt("the file does not exist or cannot be read");
    if (!fs::is_regular_file(status)) corrupt("it is not a regular file");
    const auto size = fs::file_size(fs::u8path(path), error);
    if (error) corrupt("its size cannot be read");
    if (size == 0) corrupt("the file is empty");
    if (size > max_bytes)
        corrupt("the file is " + std::to_string(size >> 20) + " MiB; models are at most " +
                std::to_string(max_bytes >> 20) + " MiB");
    std::ifstream in(fs::u8path(path), std::ios::binary);
    if (!in) corrupt("the file cannot be opened");
    std::string bytes(static_cast<std::size_t>(size), '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    if (static_cast<std::size_t>(in.gcount()) != size) corrupt("the file could not be read to its end");
    return parse(bytes);
}

const OnnxValueInfo* find_value(const std::vector<OnnxValueInfo>& values, const std::string& name) {
    for (const auto& v : values)
        if (v.name == name) return &v;
    return nullptr;
}

}  // namespace tonemorph
