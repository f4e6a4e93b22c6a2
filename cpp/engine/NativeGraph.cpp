#include "NativeGraph.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <map>
#include <numeric>
#include <set>

namespace tonemorph {

namespace {

constexpr std::size_t kMaxArena = std::size_t{1} << 22;  // floats: 16 MiB of intermediates is no decoder
constexpr std::size_t kMaxConstant = std::size_t{1} << 26;
constexpr int kMaxRank = 8;
// Matrices smaller than this stay float32 whatever the format: a 1 x 256 input layer costs nothing.
constexpr std::size_t kQuantiseFrom = 4096;

enum class Kind : int {
    // unary
    Identity, Neg, Abs, Sqrt, Exp, Log, Sigmoid, Tanh, Relu, LeakyRelu, Softplus, Reciprocal, Not,
    // binary
    Add, Sub, Mul, Div, Pow, Max, Min, Greater, Less, GreaterOrEqual, LessOrEqual, Equal, And, Or,
};

enum class Op : int { Unary, Binary, Where, Clip, MatMul, LayerNorm, Gather, Scatter, Gru };

// exp(x) in float within 2 ulp (Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-6 polynomial for e^r,
// 2^n put into the exponent bits), saturating beyond +-88; branch-free, so the loops over it vectorise where
// std::exp would be one call per element.
inline float fast_exp(float x) {
    x = std::min(std::max(x, -87.0f), 88.0f);
    // n = round(x / ln2) without a branch or a call: adding and taking back 1.5 * 2^23 leaves no fraction bits
    // (|t| <= 127 is far inside). Branch-free, so the loops over fast_exp vectorise.
    const float t = x * 1.44269504088896341f;
    const float fn = (t + 12582912.0f) - 12582912.0f;
    const int n = static_cast<int>(fn);
    const float r = (x - fn * 0.693359375f) + fn * 2.12194440e-4f;  // ln2 in two parts (Cody-Waite)
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const std::uint32_t bits = static_cast<std::uint32_t>(n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
inline float fast_tanh(float x) { return 1.0f - 2.0f / (1.0f + fast_exp(2.0f * x)); }

template <typename T>
T unary(Kind k, T x, float alpha) {
    switch (k) {
        case Kind::Identity: return x;
        case Kind::Neg: return -x;
        case Kind::Abs: return std::fabs(x);
        case Kind::Sqrt: return std::sqrt(x);
        case Kind::Exp:
            if constexpr (std::is_same_v<T, float>) return fast_exp(x);
            else return std::exp(x);
        case Kind::Log: return std::log(x);
        case Kind::Sigmoid:
            if constexpr (std::is_same_v<T, float>) return fast_sigmoid(x);
            else return T(1) / (T(1) + std::exp(-x));
        case Kind::Tanh:
            if constexpr (std::is_same_v<T, float>) return fast_tanh(x);
            else return std::tanh(x);
        case Kind::Relu: return x > T(0) ? x : T(0);
        case Kind::LeakyRelu: return x >= T(0) ? x : static_cast<T>(alpha) * x;
        case Kind::Softplus: return x > T(20) ? x : std::log1p(std::exp(x));
        case Kind::Reciprocal: return T(1) / x;
        case Kind::Not: return x != T(0) ? T(0) : T(1);
        default: return x;
    }
}

template <typename T>
T binary(Kind k, T a, T b) {
    switch (k) {
        case Kind::Add: return a + b;
        case Kind::Sub: return a - b;
        case Kind::Mul: return a * b;
        case Kind::Div: return a / b;
        case Kind::Pow: return std::pow(a, b);
        case Kind::Max: return a > b ? a : b;
        case Kind::Min: return a < b ? a : b;
        case Kind::Greater: return a > b ? T(1) : T(0);
        case Kind::Less: return a < b ? T(1) : T(0);
        case Kind::GreaterOrEqual: return a >= b ? T(1) : T(0);
        case Kind::LessOrEqual: return a <= b ? T(1) : T(0);
        case Kind::Equal: return a == b ? T(1) : T(0);
        case Kind::And: return (a != T(0) && b != T(0)) ? T(1) : T(0);
        case Kind::Or: return (a != T(0) || b != T(0)) ? T(1) : T(0);
        default: return a;
    }
}

const std::map<std::string, Kind>& unary_ops() {
    static const std::map<std::string, Kind> ops = {
        {"Identity", Kind::Identity}, {"Neg", Kind::Neg},         {"Abs", Kind::Abs},
        {"Sqrt", Kind::Sqrt},         {"Exp", Kind::Exp},         {"Log", Kind::Log},
        {"Sigmoid", Kind::Sigmoid},   {"Tanh", Kind::Tanh},       {"Relu", Kind::Relu},
        {"LeakyRelu", Kind::LeakyRelu}, {"Softplus", Kind::Softplus}, {"Reciprocal", Kind::Reciprocal},
        {"Not", Kind::Not}};
    return ops;
}

const std::map<std::string, Kind>& binary_ops() {
    static const std::map<std::string, Kind> ops = {
        {"Add", Kind::Add},         {"Sub", Kind::Sub},         {"Mul", Kind::Mul},
        {"Div", Kind::Div},         {"Pow", Kind::Pow},         {"Max", Kind::Max},
        {"Min", Kind::Min},         {"Greater", Kind::Greater}, {"Less", Kind::Less},
        {"GreaterOrEqual", Kind::GreaterOrEqual}, {"LessOrEqual", Kind::LessOrEqual},
        {"Equal", Kind::Equal},     {"And", Kind::And},         {"Or", Kind::Or}};
    return ops;
}

bool is_comparison(Kind k) {
    return k == Kind::Greater || k == Kind::Less || k == Kind::GreaterOrEqual || k == Kind::LessOrEqual ||
           k == Kind::Equal || k == Kind::And || k == Kind::Or || k == Kind::Not;
}

using Shape = std::vector<std::int64_t>;

std::size_t numel(const Shape& s) {
    std::size_t n = 1;
    for (auto d : s) n *= static_cast<std::size_t>(d);
    return n;
}

std::string shape_text(const Shape& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

[[noreturn]] void unsupported(const std::string& why) { throw NativeUnsupported(why); }

}  // namespace

struct NativeGraph::Step {
    Op op = Op::Unary;
    Kind kind = Kind::Identity;
    int out = 0, n = 0;
    int in[3] = {0, 0, 0};
    int map[3] = {-1, -1, -1};  // -1 same shape as the output, -2 one value for all, else an index map in maps_
    float alpha = 0.0f, epsilon = 0.0f;
    int matrix = -1, matrix2 = -1, matrix3 = -1;
    int rows = 0, cols = 0;
    int bias = -1, scale = -1;  // arena offsets (or -1)
    // GRU
    int hidden = 0, seq = 0, input_size = 0, state_in = -1, y = -1, y_h = -1, scratch = -1;
    bool linear_before_reset = false;
    bool activation = false;  // LayerNorm: a leaky ReLU (slope alpha) applied to its output
};

// Plans a graph: values are either constants (folded here, in double precision) or arena slots.
class NativePlanner final {
public:
    NativePlanner(const OnnxFile& file, WeightFormat weights) : file_(file), g_(new NativeGraph()) {
        g_->weights_ = weights;
    }

    std::unique_ptr<const NativeGraph> run() {
        const auto it = file_.opsets.find("");
        const auto ai = file_.opsets.find("ai.onnx");
        opset_ = it != file_.opsets.end() ? it->second : (ai != file_.opsets.end() ? ai->second : 0);
        if (opset_ < 7) unsupported("opset " + std::to_string(opset_) + " is older than the runner knows");
        for (const auto& node : file_.graph.nodes)
            for (const auto& name : node.inputs)
                if (!name.empty()) ++uses_[name];
        for (const auto& output : file_.graph.outputs) ++uses_[output.name];
        for (const auto& t : file_.graph.initializers) add_constant(t.name, t);
        for (const auto& input : file_.graph.inputs) {
            if (values_.count(input.name)) continue;  // an initializer listed as an input (IR < 4)
            if (input.elem_type != 1) unsupported("input '" + input.name + "' is not float32");
            if (!input.has_shape) unsupported("input '" + input.name + "' has no shape");
            Shape s;
            for (auto d : input.dims) s.push_back(d < 0 ? 1 : d);
            if (s.size() > kMaxRank) unsupported("input '" + input.name + "' has too many dimensions");
            Value& v = values_[input.name];
            v.shape = s;
            v.slot = allocate(numel(s));
            g_->inputs_.push_back({input.name, NativeGraph::Slot{v.slot, static_cast<int>(numel(s)), s}});
        }
        for (const auto& node : file_.graph.nodes) plan_node(node);
        for (const auto& output : file_.graph.outputs) {
            auto found = values_.find(output.name);
            if (found == values_.end()) unsupported("output '" + output.name + "' is never computed");
            Value& v = found->second;
            if (v.is_const) materialise(v);
            if (v.type == Type::Bool) unsupported("output '" + output.name + "' is not float32");
            g_->outputs_.push_back({output.name, NativeGraph::Slot{v.slot, static_cast<int>(numel(v.shape)), v.shape}});
        }
        g_->arena_size_ = arena_;
        return std::unique_ptr<const NativeGraph>(g_.release());
    }

private:
    enum class Type { Float, Bool, Int };
    struct Value {
        Shape shape;
        Type type = Type::Float;
        bool is_const = false;
        std::vector<double> data;  // constants
        int slot = -1;             // runtime values, and constants once a step reads them
    };

    int allocate(std::size_t n) {
        // Each slot starts on a 64-byte line, so the matrix kernels read aligned vectors.
        const std::size_t start = (arena_ + 15) / 16 * 16;
        if (start + n > kMaxArena) unsupported("its intermediate values need more than 16 MiB");
        arena_ = start + n;
        return static_cast<int>(start);
    }

    void add_constant(const std::string& name, const OnnxTensor& t) {
        if (t.external) unsupported("tensor '" + name + "' keeps its data in another file");
        if (t.type == OnnxType::Undefined) unsupported("tensor '" + name + "' has an unsupported data type");
        if (t.dims.size() > kMaxRank) unsupported("tensor '" + name + "' has too many dimensions");
        Value v;
        v.is_const = true;
        v.shape = t.dims;
        v.type = t.type == OnnxType::Float || t.type == OnnxType::Double ? Type::Float
                 : t.type == OnnxType::Bool                               ? Type::Bool
                                                                          : Type::Int;
        v.data = t.values;
        if (v.data.size() != numel(v.shape)) unsupported("tensor '" + name + "' does not hold its shape's values");
        values_[name] = std::move(v);
    }

    Value& get(const OnnxNode& node, std::size_t i) {
        if (i >= node.inputs.size() || node.inputs[i].empty())
            unsupported(node.op_type + " '" + node.name + "' lacks input " + std::to_string(i));
        const auto it = values_.find(node.inputs[i]);
        if (it == values_.end())
            unsupported(node.op_type + " '" + node.name + "' reads '" + node.inputs[i] + "' before it is computed");
        return it->second;
    }
    bool has_input(const OnnxNode& node, std::size_t i) const { return i < node.inputs.size() && !node.inputs[i].empty(); }

    void set_output(const OnnxNode& node, std::size_t i, Value v) {
        if (i >= node.outputs.size()) unsupported(node.op_type + " '" + node.name + "' has too few outputs");
        if (node.outputs[i].empty()) return;
        if (v.shape.size() > kMaxRank) unsupported(node.op_type + " '" + node.name + "' makes too many dimensions");
        values_[node.outputs[i]] = std::move(v);
    }

    void materialise(Value& v) {
        if (v.slot >= 0) return;
        v.slot = allocate(v.data.size());
        for (std::size_t i = 0; i < v.data.size(); ++i)
            g_->constants_.push_back({v.slot + static_cast<int>(i), static_cast<float>(v.data[i])});
    }

    std::vector<std::int64_t> ints(const Value& v, const std::string& what) {
        if (!v.is_const) unsupported(what + " is not a constant");
        std::vector<std::int64_t> out;
        for (double d : v.data) out.push_back(static_cast<std::int64_t>(d));
        return out;
    }

    std::int64_t int_attr(const OnnxNode& node, const char* name, std::int64_t fallback) {
        const OnnxAttribute* a = node.attribute(name);
        return a ? a->i : fallback;
    }
    float float_attr(const OnnxNode& node, const char* name, float fallback) {
        const OnnxAttribute* a = node.attribute(name);
        return a ? static_cast<float>(a->f) : fallback;
    }

    static int axis_of(std::int64_t axis, std::size_t rank, const OnnxNode& node) {
        const auto r = static_cast<std::int64_t>(rank);
        if (r == 0 || axis < -r || axis >= r)
            unsupported(node.op_type + " '" + node.name + "' has axis " + std::to_string(axis) + " outside its rank");
        return static_cast<int>(axis < 0 ? axis + r : axis);
    }

    // numpy broadcasting of the shapes; throws where they do not broadcast.
    static Shape broadcast(const std::vector<const Shape*>& shapes, const OnnxNode& node) {
        std::size_t rank = 0;
        for (auto* s : shapes) rank = std::max(rank, s->size());
        Shape out(rank, 1);
        for (auto* s : shapes)
            for (std::size_t i = 0; i < s->size(); ++i) {
                const std::size_t o = rank - s->size() + i;
                const std::int64_t d = (*s)[i];
                if (d == out[o] || d == 1) continue;
                if (out[o] == 1) out[o] = d;
                else unsupported(node.op_type + " '" + node.name + "': shapes do not broadcast");
            }
        return out;
    }

    // For each output element, the index of the input element it reads (numpy broadcasting).
    static std::vector<std::int32_t> broadcast_map(const Shape& in, const Shape& out) {
        const std::size_t n = numel(out), rank = out.size();
        std::vector<std::int64_t> in_strides(rank, 0);
        std::int64_t stride = 1;
        for (std::size_t i = in.size(); i-- > 0;) {
            const std::size_t o = rank - in.size() + i;
            in_strides[o] = in[i] == 1 ? 0 : stride;
            stride *= in[i];
        }
        std::vector<std::int32_t> map(n);
        std::vector<std::int64_t> index(rank, 0);
        for (std::size_t k = 0; k < n; ++k) {
            std::int64_t at = 0;
            for (std::size_t d = 0; d < rank; ++d) at += index[d] * in_strides[d];
            map[k] = static_cast<std::int32_t>(at);
            for (std::size_t d = rank; d-- > 0;) {
                if (++index[d] < out[d]) break;
                index[d] = 0;
            }
        }
        return map;
    }

    int add_map(const std::vector<std::int32_t>& map) {
        const int at = static_cast<int>(g_->maps_.size());
        g_->maps_.insert(g_->maps_.end(), map.begin(), map.end());
        return at;
    }

    // How a step reads an input broadcast to `out`. Broadcasting only repeats elements, so an input with as
    // many elements as the output is read in order.
    int input_map(const Shape& in, const Shape& out) {
        if (numel(in) == numel(out)) return -1;
        if (numel(in) == 1) return -2;
        return add_map(broadcast_map(in, out));
    }

    // --- elementwise --------------------------------------------------------------------------------------

    void plan_unary(const OnnxNode& node, Kind kind) {
        Value& x = get(node, 0);
        const float alpha = float_attr(node, "alpha", 0.01f);
        Value out;
        out.shape = x.shape;
        out.type = kind == Kind::Not ? Type::Bool : x.type;
        if (x.type == Type::Int && kind != Kind::Identity && kind != Kind::Neg && kind != Kind::Abs)
            if (!x.is_const) unsupported(node.op_type + " '" + node.name + "' on integers");
        if (x.is_const) {
            out.is_const = true;
            out.data = x.data;
            for (double& d : out.data) d = unary<double>(kind, d, alpha);
            return set_output(node, 0, std::move(out));
        }
        if (kind == Kind::Identity) {
            out.slot = x.slot;
            return set_output(node, 0, std::move(out));
        }
        // LayerNorm then (Leaky)ReLU: applied as the normalised values are written.
        if (kind == Kind::LeakyRelu || kind == Kind::Relu)
            if (NativeGraph::Step* norm = sole_producer(node.inputs[0], x, Op::LayerNorm); norm && !norm->activation) {
                norm->activation = true;
                norm->alpha = kind == Kind::Relu ? 0.0f : alpha;
                out.slot = x.slot;
                return set_output(node, 0, std::move(out));
            }
        NativeGraph::Step s;
        s.op = Op::Unary;
        s.kind = kind;
        s.alpha = alpha;
        s.in[0] = x.slot;
        s.n = static_cast<int>(numel(out.shape));
        s.out = out.slot = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(out));
    }

    void plan_binary(const OnnxNode& node, Kind kind) {
        Value& a = get(node, 0);
        Value& b = get(node, 1);
        Value out;
        out.shape = broadcast({&a.shape, &b.shape}, node);
        out.type = is_comparison(kind) ? Type::Bool : (a.type == Type::Int && b.type == Type::Int ? Type::Int : Type::Float);
        if (a.is_const && b.is_const) {
            out.is_const = true;
            const auto ma = broadcast_map(a.shape, out.shape), mb = broadcast_map(b.shape, out.shape);
            out.data.resize(numel(out.shape));
            for (std::size_t i = 0; i < out.data.size(); ++i) {
                double r = binary<double>(kind, a.data[static_cast<std::size_t>(ma[i])], b.data[static_cast<std::size_t>(mb[i])]);
                if (out.type == Type::Int) r = std::trunc(r);
                out.data[i] = r;
            }
            return set_output(node, 0, std::move(out));
        }
        if (out.type == Type::Int) unsupported(node.op_type + " '" + node.name + "' computes integers at run time");
        // y = x W + b: the bias joins the matrix product (one pass over y instead of two).
        if (kind == Kind::Add)
            for (int i = 0; i < 2; ++i) {
                Value& x = i == 0 ? a : b;
                Value& bias = i == 0 ? b : a;
                NativeGraph::Step* product = sole_producer(node.inputs[static_cast<std::size_t>(i)], x, Op::MatMul);
                if (!product || product->bias >= 0 || !bias.is_const || out.shape != x.shape || product->rows != 1 ||
                    numel(bias.shape) != numel(x.shape))
                    continue;
                materialise(bias);
                product->bias = bias.slot;
                Value fused = x;
                return set_output(node, 0, std::move(fused));
            }
        materialise(a);
        materialise(b);
        NativeGraph::Step s;
        s.op = Op::Binary;
        s.kind = kind;
        s.n = static_cast<int>(numel(out.shape));
        s.in[0] = a.slot;
        s.in[1] = b.slot;
        s.map[0] = input_map(a.shape, out.shape);
        s.map[1] = input_map(b.shape, out.shape);
        s.out = out.slot = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(out));
    }

    void plan_where(const OnnxNode& node) {
        Value& c = get(node, 0);
        Value& x = get(node, 1);
        Value& y = get(node, 2);
        Value out;
        out.shape = broadcast({&c.shape, &x.shape, &y.shape}, node);
        out.type = x.type;
        if (c.is_const && x.is_const && y.is_const) {
            out.is_const = true;
            const auto mc = broadcast_map(c.shape, out.shape), mx = broadcast_map(x.shape, out.shape),
                       my = broadcast_map(y.shape, out.shape);
            out.data.resize(numel(out.shape));
            for (std::size_t i = 0; i < out.data.size(); ++i)
                out.data[i] = c.data[static_cast<std::size_t>(mc[i])] != 0.0 ? x.data[static_cast<std::size_t>(mx[i])]
                                                                              : y.data[static_cast<std::size_t>(my[i])];
            return set_output(node, 0, std::move(out));
        }
        if (out.type == Type::Int) unsupported("Where '" + node.name + "' selects integers at run time");
        for (Value* v : {&c, &x, &y}) materialise(*v);
        NativeGraph::Step s;
        s.op = Op::Where;
        s.n = static_cast<int>(numel(out.shape));
        const Value* in[3] = {&c, &x, &y};
        for (int i = 0; i < 3; ++i) {
            s.in[i] = in[i]->slot;
            s.map[i] = input_map(in[i]->shape, out.shape);
        }
        s.out = out.slot = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(out));
    }

    // --- matrix products ------------------------------------------------------------------------------------

    int add_matrix(const std::vector<double>& w, int rows, int cols, bool transposed_source) {
        // w is [cols, rows] when transposed_source (MatMul's B: x B), else [rows, cols].
        std::vector<float> m(static_cast<std::size_t>(rows) * cols);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c)
                m[static_cast<std::size_t>(r) * cols + c] = static_cast<float>(
                    transposed_source ? w[static_cast<std::size_t>(c) * rows + r] : w[static_cast<std::size_t>(r) * cols + c]);
        const WeightFormat format = m.size() >= kQuantiseFrom ? g_->weights_ : WeightFormat::Float32;
        g_->matrices_.emplace_back(m.data(), rows, cols, format);
        return static_cast<int>(g_->matrices_.size()) - 1;
    }

    void plan_matmul(const OnnxNode& node) {
        Value& a = get(node, 0);
        Value& b = get(node, 1);
        if (a.is_const || !b.is_const || b.shape.size() != 2 || a.shape.empty())
            unsupported("MatMul '" + node.name + "' is not (values) x (constant matrix)");
        const std::int64_t k = b.shape[0], n = b.shape[1];
        if (a.shape.back() != k) unsupported("MatMul '" + node.name + "': inner dimensions differ");
        if (a.type != Type::Float || b.type != Type::Float) unsupported("MatMul '" + node.name + "' is not float32");
        Value out;
        out.shape = a.shape;
        out.shape.back() = n;
        NativeGraph::Step s;
        s.op = Op::MatMul;
        s.matrix = add_matrix(b.data, static_cast<int>(n), static_cast<int>(k), true);
        s.rows = static_cast<int>(numel(a.shape) / static_cast<std::size_t>(k));
        s.cols = static_cast<int>(k);
        s.in[0] = a.slot;
        s.n = static_cast<int>(numel(out.shape));
        s.out = out.slot = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(out));
    }

    void plan_gemm(const OnnxNode& node) {
        Value& a = get(node, 0);
        Value& b = get(node, 1);
        const bool trans_a = int_attr(node, "transA", 0) != 0, trans_b = int_attr(node, "transB", 0) != 0;
        const float alpha = float_attr(node, "alpha", 1.0f), beta = float_attr(node, "beta", 1.0f);
        if (a.is_const || !b.is_const || trans_a || a.shape.size() != 2 || b.shape.size() != 2)
            unsupported("Gemm '" + node.name + "' is not (values) x (constant matrix)");
        const std::int64_t k = trans_b ? b.shape[1] : b.shape[0], n = trans_b ? b.shape[0] : b.shape[1];
        if (a.shape[1] != k) unsupported("Gemm '" + node.name + "': inner dimensions differ");
        std::vector<double> w = b.data;
        for (double& d : w) d *= alpha;
        Value out;
        out.shape = {a.shape[0], n};
        NativeGraph::Step s;
        s.op = Op::MatMul;
        s.matrix = add_matrix(w, static_cast<int>(n), static_cast<int>(k), !trans_b);
        s.rows = static_cast<int>(a.shape[0]);
        s.cols = static_cast<int>(k);
        s.in[0] = a.slot;
        s.n = static_cast<int>(numel(out.shape));
        s.out = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        if (has_input(node, 2) && beta != 0.0f) {
            Value& c = get(node, 2);
            if (!c.is_const) unsupported("Gemm '" + node.name + "' adds a C that is not constant");
            Value scaled = c;
            for (double& d : scaled.data) d *= beta;
            materialise(scaled);
            NativeGraph::Step add;
            add.op = Op::Binary;
            add.kind = Kind::Add;
            add.n = s.n;
            add.in[0] = s.out;
            add.in[1] = scaled.slot;
            add.map[0] = -1;
            add.map[1] = input_map(scaled.shape, out.shape);
            add.out = allocate(static_cast<std::size_t>(s.n));
            g_->steps_.push_back(add);
            out.slot = add.out;
        } else {
            out.slot = s.out;
        }
        set_output(node, 0, std::move(out));
    }

    void plan_layer_norm(const OnnxNode& node) {
        Value& x = get(node, 0);
        Value& scale = get(node, 1);
        if (x.is_const) unsupported("LayerNormalization '" + node.name + "' of a constant");
        for (std::size_t i = 1; i < node.outputs.size(); ++i)
            if (!node.outputs[i].empty()) unsupported("LayerNormalization '" + node.name + "' returns its statistics");
        const int axis = axis_of(int_attr(node, "axis", -1), x.shape.size(), node);
        std::size_t cols = 1;
        for (std::size_t d = static_cast<std::size_t>(axis); d < x.shape.size(); ++d) cols *= static_cast<std::size_t>(x.shape[d]);
        if (numel(scale.shape) != cols) unsupported("LayerNormalization '" + node.name + "': scale does not match");
        materialise(scale);
        NativeGraph::Step s;
        s.op = Op::LayerNorm;
        s.cols = static_cast<int>(cols);
        s.rows = static_cast<int>(numel(x.shape) / cols);
        s.epsilon = float_attr(node, "epsilon", 1e-5f);
        s.in[0] = x.slot;
        s.scale = scale.slot;
        if (has_input(node, 2)) {
            Value& bias = get(node, 2);
            if (numel(bias.shape) != cols) unsupported("LayerNormalization '" + node.name + "': bias does not match");
            materialise(bias);
            s.bias = bias.slot;
        }
        Value out;
        out.shape = x.shape;
        s.n = static_cast<int>(numel(out.shape));
        s.out = out.slot = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(out));
    }

    // --- GRU (ONNX gate order z, r, h; forward; default activations) --------------------------------------

    void plan_gru(const OnnxNode& node) {
        Value& x = get(node, 0);
        Value& w = get(node, 1);
        Value& r = get(node, 2);
        const OnnxAttribute* direction = node.attribute("direction");
        if (direction && direction->s != "forward") unsupported("GRU '" + node.name + "' is not forward-only");
        if (node.attribute("activations") || node.attribute("clip") || int_attr(node, "layout", 0) != 0)
            unsupported("GRU '" + node.name + "' uses activations, clip or layout the runner does not know");
        if (has_input(node, 4)) unsupported("GRU '" + node.name + "' has sequence_lens");
        if (x.is_const || !w.is_const || !r.is_const || x.shape.size() != 3 || w.shape.size() != 3 || r.shape.size() != 3)
            unsupported("GRU '" + node.name + "' does not have constant weights of the usual shapes");
        const std::int64_t hidden = int_attr(node, "hidden_size", r.shape.back());
        const std::int64_t seq = x.shape[0], batch = x.shape[1], input = x.shape[2];
        if (w.shape != Shape{1, 3 * hidden, input} || r.shape != Shape{1, 3 * hidden, hidden} || batch != 1)
            unsupported("GRU '" + node.name + "' weights " + shape_text(w.shape) + ", " + shape_text(r.shape) +
                        " do not match its input " + shape_text(x.shape));
        NativeGraph::Step s;
        s.op = Op::Gru;
        s.hidden = static_cast<int>(hidden);
        s.seq = static_cast<int>(seq);
        s.input_size = static_cast<int>(input);
        s.linear_before_reset = int_attr(node, "linear_before_reset", 0) != 0;
        s.in[0] = x.slot;
        const int h = s.hidden;
        s.matrix = add_matrix(w.data, 3 * h, s.input_size, false);
        if (s.linear_before_reset) {
            s.matrix2 = add_matrix(r.data, 3 * h, h, false);
        } else {  // R_zr and R_h apart: the candidate multiplies R_h by (r . h)
            std::vector<double> zr(r.data.begin(), r.data.begin() + 2 * h * h), hh(r.data.begin() + 2 * h * h, r.data.end());
            s.matrix2 = add_matrix(zr, 2 * h, h, false);
            s.matrix3 = add_matrix(hh, h, h, false);
        }
        Value bias;
        bias.is_const = true;
        bias.shape = {6 * hidden};
        bias.data.assign(static_cast<std::size_t>(6 * h), 0.0);
        if (has_input(node, 3)) {
            Value& b = get(node, 3);
            if (!b.is_const || numel(b.shape) != static_cast<std::size_t>(6 * h))
                unsupported("GRU '" + node.name + "' bias is not a constant [1, 6 hidden]");
            bias.data = b.data;
        }
        materialise(bias);
        s.bias = bias.slot;
        if (has_input(node, 5)) {
            Value& h0 = get(node, 5);
            if (numel(h0.shape) != static_cast<std::size_t>(h)) unsupported("GRU '" + node.name + "' initial_h is not [1, 1, hidden]");
            materialise(h0);
            s.state_in = h0.slot;
        }
        s.scratch = allocate(static_cast<std::size_t>(7 * h));  // W x (3h), R h (3h), r . h (h)
        Value y, y_h;
        y.shape = {seq, 1, 1, hidden};
        y_h.shape = {1, 1, hidden};
        s.y = y.slot = allocate(numel(y.shape));
        s.y_h = y_h.slot = allocate(numel(y_h.shape));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(y));
        if (node.outputs.size() > 1) set_output(node, 1, std::move(y_h));
    }

    // --- copies and shapes -------------------------------------------------------------------------------

    // out[i] = x[map[i]] (a runtime gather), or folded for a constant.
    void gather_copy(const OnnxNode& node, std::size_t output, Value& x, const Shape& shape,
                     const std::vector<std::int32_t>& map) {
        Value out;
        out.shape = shape;
        out.type = x.type;
        if (x.is_const) {
            out.is_const = true;
            for (auto i : map) out.data.push_back(x.data[static_cast<std::size_t>(i)]);
            return set_output(node, output, std::move(out));
        }
        NativeGraph::Step s;
        s.op = Op::Gather;
        s.n = static_cast<int>(map.size());
        s.in[0] = x.slot;
        s.map[0] = add_map(map);
        s.out = out.slot = allocate(map.size());
        g_->steps_.push_back(s);
        set_output(node, output, std::move(out));
    }

    void reshaped(const OnnxNode& node, Value& x, Shape shape) {
        if (numel(shape) != numel(x.shape))
            unsupported(node.op_type + " '" + node.name + "' changes the element count " + shape_text(x.shape) + " -> " +
                        shape_text(shape));
        Value out = x;
        out.shape = std::move(shape);
        set_output(node, 0, std::move(out));
    }

    std::vector<std::int64_t> axes_of(const OnnxNode& node, std::size_t input) {
        if (has_input(node, input)) return ints(get(node, input), node.op_type + " '" + node.name + "' axes");
        const OnnxAttribute* a = node.attribute("axes");
        return a ? a->ints : std::vector<std::int64_t>{};
    }

    void plan_transpose(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::size_t rank = x.shape.size();
        std::vector<std::int64_t> perm;
        if (const OnnxAttribute* a = node.attribute("perm")) perm = a->ints;
        else for (std::size_t i = 0; i < rank; ++i) perm.push_back(static_cast<std::int64_t>(rank - 1 - i));
        if (perm.size() != rank) unsupported("Transpose '" + node.name + "' perm does not match the rank");
        Shape out(rank), in_strides(rank), axes(rank);
        std::int64_t stride = 1;
        for (std::size_t i = rank; i-- > 0;) {
            in_strides[i] = stride;
            stride *= x.shape[i];
        }
        std::vector<bool> seen(rank, false);
        std::vector<std::int64_t> moved;  // the axes longer than 1, in their new order
        for (std::size_t i = 0; i < rank; ++i) {
            const int p = axis_of(perm[i], rank, node);
            if (seen[static_cast<std::size_t>(p)]) unsupported("Transpose '" + node.name + "' perm repeats an axis");
            seen[static_cast<std::size_t>(p)] = true;
            axes[i] = p;
            out[i] = x.shape[static_cast<std::size_t>(p)];
            if (out[i] != 1) moved.push_back(p);
        }
        // Moving only axes of size 1 keeps the order of the elements: a reshape.
        if (std::is_sorted(moved.begin(), moved.end())) return reshaped(node, x, out);
        std::vector<std::int32_t> map(numel(out));
        std::vector<std::int64_t> index(rank, 0);
        for (std::size_t k = 0; k < map.size(); ++k) {
            std::int64_t at = 0;
            for (std::size_t d = 0; d < rank; ++d)
                at += index[d] * in_strides[static_cast<std::size_t>(axes[d])];
            map[k] = static_cast<std::int32_t>(at);
            for (std::size_t d = rank; d-- > 0;) {
                if (++index[d] < out[d]) break;
                index[d] = 0;
            }
        }
        gather_copy(node, 0, x, out, map);
    }

    void plan_concat(const OnnxNode& node) {
        std::vector<Value*> parts;
        for (std::size_t i = 0; i < node.inputs.size(); ++i)
            if (has_input(node, i)) parts.push_back(&get(node, i));
        if (parts.empty()) unsupported("Concat '" + node.name + "' has no inputs");
        const std::size_t rank = parts[0]->shape.size();
        const int axis = axis_of(int_attr(node, "axis", 0), rank, node);
        Shape out = parts[0]->shape;
        out[static_cast<std::size_t>(axis)] = 0;
        bool all_const = true;
        for (Value* p : parts) {
            if (p->shape.size() != rank) unsupported("Concat '" + node.name + "' joins different ranks");
            for (std::size_t d = 0; d < rank; ++d)
                if (static_cast<int>(d) != axis && p->shape[d] != parts[0]->shape[d])
                    unsupported("Concat '" + node.name + "' joins different shapes");
            out[static_cast<std::size_t>(axis)] += p->shape[static_cast<std::size_t>(axis)];
            all_const = all_const && p->is_const;
        }
        std::size_t outer = 1, inner = 1;
        for (int d = 0; d < axis; ++d) outer *= static_cast<std::size_t>(out[static_cast<std::size_t>(d)]);
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < rank; ++d) inner *= static_cast<std::size_t>(out[d]);
        const std::size_t row = static_cast<std::size_t>(out[static_cast<std::size_t>(axis)]) * inner;
        Value result;
        result.shape = out;
        result.type = parts[0]->type;
        if (all_const) {
            result.is_const = true;
            result.data.resize(numel(out));
        } else {
            result.slot = allocate(numel(out));
        }
        std::size_t offset = 0;
        for (Value* p : parts) {
            const std::size_t chunk = static_cast<std::size_t>(p->shape[static_cast<std::size_t>(axis)]) * inner;
            std::vector<std::int32_t> where;  // destination of each element of p
            for (std::size_t o = 0; o < outer; ++o)
                for (std::size_t j = 0; j < chunk; ++j) where.push_back(static_cast<std::int32_t>(o * row + offset + j));
            offset += chunk;
            if (all_const) {
                for (std::size_t i = 0; i < where.size(); ++i) result.data[static_cast<std::size_t>(where[i])] = p->data[i];
                continue;
            }
            if (where.empty()) continue;
            materialise(*p);
            NativeGraph::Step s;
            s.op = Op::Scatter;
            s.n = static_cast<int>(where.size());
            s.in[0] = p->slot;
            s.map[0] = add_map(where);
            s.out = result.slot;
            g_->steps_.push_back(s);
        }
        set_output(node, 0, std::move(result));
    }

    void plan_split(const OnnxNode& node) {
        Value& x = get(node, 0);
        const int axis = axis_of(int_attr(node, "axis", 0), x.shape.size(), node);
        const std::int64_t length = x.shape[static_cast<std::size_t>(axis)];
        std::vector<std::int64_t> sizes;
        if (has_input(node, 1)) sizes = ints(get(node, 1), "Split '" + node.name + "' sizes");
        else if (const OnnxAttribute* a = node.attribute("split")) sizes = a->ints;
        const std::size_t parts = node.outputs.size();
        if (sizes.empty()) {
            if (parts == 0 || length % static_cast<std::int64_t>(parts) != 0)
                unsupported("Split '" + node.name + "' cannot split evenly");
            sizes.assign(parts, length / static_cast<std::int64_t>(parts));
        }
        if (sizes.size() != parts || std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}) != length ||
            std::any_of(sizes.begin(), sizes.end(), [](std::int64_t v) { return v < 0; }))
            unsupported("Split '" + node.name + "' sizes do not add up to its input");
        std::size_t outer = 1, inner = 1;
        for (int d = 0; d < axis; ++d) outer *= static_cast<std::size_t>(x.shape[static_cast<std::size_t>(d)]);
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < x.shape.size(); ++d) inner *= static_cast<std::size_t>(x.shape[d]);
        std::int64_t start = 0;
        for (std::size_t i = 0; i < parts; ++i) {
            Shape shape = x.shape;
            shape[static_cast<std::size_t>(axis)] = sizes[i];
            std::vector<std::int32_t> map;
            for (std::size_t o = 0; o < outer; ++o)
                for (std::int64_t j = 0; j < sizes[i] * static_cast<std::int64_t>(inner); ++j)
                    map.push_back(static_cast<std::int32_t>(o * static_cast<std::size_t>(length) * inner +
                                                            static_cast<std::size_t>(start) * inner + static_cast<std::size_t>(j)));
            start += sizes[i];
            if (!node.outputs[i].empty()) gather_copy(node, i, x, shape, map);
        }
    }

    void plan_squeeze(const OnnxNode& node, bool unsqueeze) {
        Value& x = get(node, 0);
        std::vector<std::int64_t> axes = axes_of(node, 1);
        Shape out;
        if (unsqueeze) {
            const std::size_t rank = x.shape.size() + axes.size();
            std::set<int> at;
            for (auto a : axes) at.insert(axis_of(a, rank, node));
            if (at.size() != axes.size()) unsupported("Unsqueeze '" + node.name + "' repeats an axis");
            std::size_t k = 0;
            for (std::size_t d = 0; d < rank; ++d) out.push_back(at.count(static_cast<int>(d)) ? 1 : x.shape[k++]);
        } else {
            std::set<int> at;
            for (auto a : axes) at.insert(axis_of(a, x.shape.size(), node));
            for (std::size_t d = 0; d < x.shape.size(); ++d) {
                const bool drop = axes.empty() ? x.shape[d] == 1 : at.count(static_cast<int>(d)) > 0;
                if (drop && x.shape[d] != 1) unsupported("Squeeze '" + node.name + "' of an axis longer than 1");
                if (!drop) out.push_back(x.shape[d]);
            }
        }
        reshaped(node, x, out);
    }

    void plan_reshape(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::vector<std::int64_t> spec = ints(get(node, 1), "Reshape '" + node.name + "' shape");
        if (int_attr(node, "allowzero", 0) != 0) unsupported("Reshape '" + node.name + "' with allowzero");
        Shape out;
        int infer = -1;
        std::size_t known = 1;
        for (std::size_t i = 0; i < spec.size(); ++i) {
            std::int64_t d = spec[i];
            if (d == 0) {
                if (i >= x.shape.size()) unsupported("Reshape '" + node.name + "' copies a dimension it lacks");
                d = x.shape[i];
            }
            if (d == -1) {
                if (infer >= 0) unsupported("Reshape '" + node.name + "' infers two dimensions");
                infer = static_cast<int>(i);
                out.push_back(1);
                continue;
            }
            if (d < 0) unsupported("Reshape '" + node.name + "' has a negative dimension");
            out.push_back(d);
            known *= static_cast<std::size_t>(d);
        }
        if (infer >= 0) {
            if (known == 0 || numel(x.shape) % known != 0) unsupported("Reshape '" + node.name + "' cannot infer");
            out[static_cast<std::size_t>(infer)] = static_cast<std::int64_t>(numel(x.shape) / known);
        }
        reshaped(node, x, out);
    }

    void plan_flatten(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::size_t rank = x.shape.size();
        const int axis = static_cast<int>(int_attr(node, "axis", 1) < 0 ? int_attr(node, "axis", 1) + static_cast<std::int64_t>(rank)
                                                                         : int_attr(node, "axis", 1));
        if (axis < 0 || static_cast<std::size_t>(axis) > rank) unsupported("Flatten '" + node.name + "' axis outside its rank");
        std::int64_t a = 1, b = 1;
        for (std::size_t d = 0; d < rank; ++d) (static_cast<int>(d) < axis ? a : b) *= x.shape[d];
        reshaped(node, x, {a, b});
    }

    void plan_shape(const OnnxNode& node) {
        Value& x = get(node, 0);
        const auto rank = static_cast<std::int64_t>(x.shape.size());
        std::int64_t start = int_attr(node, "start", 0), end = int_attr(node, "end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = std::clamp<std::int64_t>(start, 0, rank);
        end = std::clamp<std::int64_t>(end, start, rank);
        Value out;
        out.is_const = true;
        out.type = Type::Int;
        for (std::int64_t d = start; d < end; ++d) out.data.push_back(static_cast<double>(x.shape[static_cast<std::size_t>(d)]));
        out.shape = {end - start};
        set_output(node, 0, std::move(out));
    }

    void plan_constant_of_shape(const OnnxNode& node) {
        const std::vector<std::int64_t> shape = ints(get(node, 0), "ConstantOfShape '" + node.name + "' shape");
        Value out;
        out.is_const = true;
        double fill = 0.0;
        if (const OnnxAttribute* a = node.attribute("value")) {
            if (a->tensors.size() != 1 || a->tensors[0].values.size() != 1)
                unsupported("ConstantOfShape '" + node.name + "' value is not one number");
            fill = a->tensors[0].values[0];
            out.type = a->tensors[0].type == OnnxType::Float || a->tensors[0].type == OnnxType::Double ? Type::Float
                       : a->tensors[0].type == OnnxType::Bool                                           ? Type::Bool
                                                                                                        : Type::Int;
        }
        for (auto d : shape)
            if (d < 0) unsupported("ConstantOfShape '" + node.name + "' has a negative dimension");
        out.shape = shape;
        if (numel(out.shape) > kMaxConstant) unsupported("ConstantOfShape '" + node.name + "' is too large");
        out.data.assign(numel(out.shape), fill);
        set_output(node, 0, std::move(out));
    }

    void plan_constant(const OnnxNode& node) {
        const OnnxAttribute* a = node.attribute("value");
        if (a && a->tensors.size() == 1) {
            OnnxTensor t = a->tensors[0];
            add_constant(node.outputs.empty() ? std::string() : node.outputs[0], t);
            return;
        }
        Value out;
        out.is_const = true;
        if ((a = node.attribute("value_float"))) {
            out.data = {a->f};
        } else if ((a = node.attribute("value_int"))) {
            out.data = {static_cast<double>(a->i)};
            out.type = Type::Int;
        } else if ((a = node.attribute("value_floats"))) {
            out.data = a->floats;
            out.shape = {static_cast<std::int64_t>(a->floats.size())};
        } else if ((a = node.attribute("value_ints"))) {
            for (auto v : a->ints) out.data.push_back(static_cast<double>(v));
            out.shape = {static_cast<std::int64_t>(a->ints.size())};
            out.type = Type::Int;
        } else {
            unsupported("Constant '" + node.name + "' has no value the runner reads");
        }
        set_output(node, 0, std::move(out));
    }

    void plan_cast(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::int64_t to = int_attr(node, "to", 1);
        Value out = x;
        if (to == 1 || to == 11) {
            out.type = Type::Float;
        } else if (to == 9) {
            out.type = Type::Bool;
            if (x.is_const) for (double& d : out.data) d = d != 0.0 ? 1.0 : 0.0;
            else if (x.type != Type::Bool) unsupported("Cast '" + node.name + "' to bool at run time");
        } else if (to == 6 || to == 7) {
            if (!x.is_const) unsupported("Cast '" + node.name + "' to integers at run time");
            out.type = Type::Int;
            for (double& d : out.data) d = std::trunc(d);
        } else {
            unsupported("Cast '" + node.name + "' to type " + std::to_string(to));
        }
        set_output(node, 0, std::move(out));
    }

    void plan_clip(const OnnxNode& node) {
        Value& x = get(node, 0);
        double lo = -INFINITY, hi = INFINITY;
        if (opset_ < 11) {
            lo = float_attr(node, "min", -INFINITY);
            hi = float_attr(node, "max", INFINITY);
        } else {
            if (has_input(node, 1)) lo = scalar(get(node, 1), "Clip '" + node.name + "' min");
            if (has_input(node, 2)) hi = scalar(get(node, 2), "Clip '" + node.name + "' max");
        }
        Value out;
        out.shape = x.shape;
        out.type = x.type;
        if (x.is_const) {
            out.is_const = true;
            out.data = x.data;
            for (double& d : out.data) d = std::min(std::max(d, lo), hi);
            return set_output(node, 0, std::move(out));
        }
        NativeGraph::Step s;
        s.op = Op::Clip;
        s.alpha = static_cast<float>(lo);
        s.epsilon = static_cast<float>(hi);
        s.in[0] = x.slot;
        s.n = static_cast<int>(numel(out.shape));
        s.out = out.slot = allocate(static_cast<std::size_t>(s.n));
        g_->steps_.push_back(s);
        set_output(node, 0, std::move(out));
    }

    double scalar(const Value& v, const std::string& what) {
        if (!v.is_const || v.data.size() != 1) unsupported(what + " is not one constant number");
        return v.data[0];
    }

    // out = data.take(indices, axis): shape data[:axis] + indices + data[axis + 1:]
    void plan_gather(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::vector<std::int64_t> indices = ints(get(node, 1), "Gather '" + node.name + "' indices");
        const Shape index_shape = get(node, 1).shape;
        if (x.shape.empty()) unsupported("Gather '" + node.name + "' from a scalar");
        const int axis = axis_of(int_attr(node, "axis", 0), x.shape.size(), node);
        const std::int64_t length = x.shape[static_cast<std::size_t>(axis)];
        std::size_t outer = 1, inner = 1;
        for (int d = 0; d < axis; ++d) outer *= static_cast<std::size_t>(x.shape[static_cast<std::size_t>(d)]);
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < x.shape.size(); ++d) inner *= static_cast<std::size_t>(x.shape[d]);
        Shape shape(x.shape.begin(), x.shape.begin() + axis);
        shape.insert(shape.end(), index_shape.begin(), index_shape.end());
        shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
        std::vector<std::int32_t> map;
        for (std::size_t o = 0; o < outer; ++o)
            for (std::int64_t index : indices) {
                if (index < -length || index >= length) unsupported("Gather '" + node.name + "' index out of range");
                const std::int64_t at = index < 0 ? index + length : index;
                for (std::size_t j = 0; j < inner; ++j)
                    map.push_back(static_cast<std::int32_t>((o * static_cast<std::size_t>(length) + static_cast<std::size_t>(at)) * inner + j));
            }
        gather_copy(node, 0, x, shape, map);
    }

    // out = x[starts:ends:steps] along `axes` (numpy slicing rules, as ONNX Slice)
    void plan_slice(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::string what = "Slice '" + node.name + "'";
        std::vector<std::int64_t> starts, ends, axes, steps;
        if (opset_ < 10) {
            const OnnxAttribute* a = node.attribute("starts");
            const OnnxAttribute* b = node.attribute("ends");
            if (!a || !b) unsupported(what + " lacks starts or ends");
            starts = a->ints;
            ends = b->ints;
            if (const OnnxAttribute* c = node.attribute("axes")) axes = c->ints;
        } else {
            starts = ints(get(node, 1), what + " starts");
            ends = ints(get(node, 2), what + " ends");
            if (has_input(node, 3)) axes = ints(get(node, 3), what + " axes");
            if (has_input(node, 4)) steps = ints(get(node, 4), what + " steps");
        }
        if (axes.empty())
            for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
        if (steps.empty()) steps.assign(starts.size(), 1);
        if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
            unsupported(what + " has lists of different lengths");
        const std::size_t rank = x.shape.size();
        std::vector<std::int64_t> first(rank, 0), step(rank, 1);
        Shape out = x.shape;
        for (std::size_t i = 0; i < starts.size(); ++i) {
            const int axis = axis_of(axes[i], rank, node);
            const std::int64_t dim = x.shape[static_cast<std::size_t>(axis)], st = steps[i];
            if (st == 0) unsupported(what + " has a step of 0");
            auto clamp_index = [&](std::int64_t v) {
                if (v < 0) v += dim;
                return st > 0 ? std::clamp<std::int64_t>(v, 0, dim) : std::clamp<std::int64_t>(v, -1, dim - 1);
            };
            const std::int64_t b = clamp_index(starts[i]), e = clamp_index(ends[i]);
            const std::int64_t count = st > 0 ? std::max<std::int64_t>(0, (e - b + st - 1) / st)
                                              : std::max<std::int64_t>(0, (b - e - st - 1) / -st);
            first[static_cast<std::size_t>(axis)] = b;
            step[static_cast<std::size_t>(axis)] = st;
            out[static_cast<std::size_t>(axis)] = count;
        }
        Shape strides(rank, 1);
        for (std::size_t d = rank; d-- > 1;) strides[d - 1] = strides[d] * x.shape[d];
        std::vector<std::int32_t> map(numel(out));
        std::vector<std::int64_t> index(rank, 0);
        for (std::size_t k = 0; k < map.size(); ++k) {
            std::int64_t at = 0;
            for (std::size_t d = 0; d < rank; ++d) at += (first[d] + index[d] * step[d]) * strides[d];
            map[k] = static_cast<std::int32_t>(at);
            for (std::size_t d = rank; d-- > 0;) {
                if (++index[d] < out[d]) break;
                index[d] = 0;
            }
        }
        gather_copy(node, 0, x, out, map);
    }

    void plan_expand(const OnnxNode& node) {
        Value& x = get(node, 0);
        const std::vector<std::int64_t> target = ints(get(node, 1), "Expand '" + node.name + "' shape");
        for (auto d : target)
            if (d < 0) unsupported("Expand '" + node.name + "' to a negative dimension");
        const Shape out = broadcast({&x.shape, &target}, node);
        if (numel(out) > kMaxConstant) unsupported("Expand '" + node.name + "' is too large");
        gather_copy(node, 0, x, out, broadcast_map(x.shape, out));
    }

    void plan_node(const OnnxNode& node) {
        if (!node.domain.empty() && node.domain != "ai.onnx")
            unsupported("operator " + node.domain + "::" + node.op_type + " is not a standard ONNX operator");
        const std::string& op = node.op_type;
        if (const auto u = unary_ops().find(op); u != unary_ops().end()) return plan_unary(node, u->second);
        if (const auto b = binary_ops().find(op); b != binary_ops().end()) {
            if (node.inputs.size() != 2) unsupported(op + " '" + node.name + "' with other than two inputs");
            return plan_binary(node, b->second);
        }
        if (op == "Where") return plan_where(node);
        if (op == "MatMul") return plan_matmul(node);
        if (op == "Gemm") return plan_gemm(node);
        if (op == "LayerNormalization") return plan_layer_norm(node);
        if (op == "GRU") return plan_gru(node);
        if (op == "Transpose") return plan_transpose(node);
        if (op == "Concat") return plan_concat(node);
        if (op == "Split") return plan_split(node);
        if (op == "Squeeze") return plan_squeeze(node, false);
        if (op == "Unsqueeze") return plan_squeeze(node, true);
        if (op == "Reshape") return plan_reshape(node);
        if (op == "Flatten") return plan_flatten(node);
        if (op == "Shape") return plan_shape(node);
        if (op == "ConstantOfShape") return plan_constant_of_shape(node);
        if (op == "Constant") return plan_constant(node);
        if (op == "Cast") return plan_cast(node);
        if (op == "Clip") return plan_clip(node);
        if (op == "Gather") return plan_gather(node);
        if (op == "Expand") return plan_expand(node);
        if (op == "Slice") return plan_slice(node);
        unsupported("operator " + op + " is not one the native runner knows");
    }

    // The step that computed runtime value `name`, when it is the latest step and `name` has no other reader:
    // then a following bias or activation can be folded into it.
    NativeGraph::Step* sole_producer(const std::string& name, const Value& v, Op op) {
        if (v.is_const || g_->steps_.empty() || uses_[name] != 1) return nullptr;
        NativeGraph::Step& last = g_->steps_.back();
        return last.op == op && last.out == v.slot ? &last : nullptr;
    }

    const OnnxFile& file_;
    std::unique_ptr<NativeGraph> g_;
    std::map<std::string, int> uses_;
    std::map<std::string, Value> values_;
    std::size_t arena_ = 0;
    std::int64_t opset_ = 0;
};

std::unique_ptr<const NativeGraph> NativeGraph::plan(const OnnxFile& file, WeightFormat weights) {
    return NativePlanner(file, weights).run();
}

NativeGraph::~NativeGraph() = default;

const NativeGraph::Slot* NativeGraph::input(const std::string& name) const {
    for (const auto& [n, slot] : inputs_)
        if (n == name) return &slot;
    return nullptr;
}

const NativeGraph::Slot* NativeGraph::output(const std::string& name) const {
    for (const auto& [n, slot] : outputs_)
        if (n == name) return &slot;
    return nullptr;
}

std::size_t NativeGraph::weight_count() const {
    std::size_t n = 0;
    for (const auto& m : matrices_) n += static_cast<std::size_t>(m.rows()) * m.cols();
    return n;
}

std::size_t NativeGraph::weight_bytes() const {
    std::size_t n = 0;
    for (const auto& m : matrices_) n += m.bytes();
    return n;
}

void NativeGraph::init_arena(float* arena) const {
    std::fill(arena, arena + arena_size_, 0.0f);
    for (const auto& [at, value] : constants_) arena[at] = value;
}

namespace {


inline float read(const float* arena, int base, int map, const std::int32_t* maps, int i) {
    if (map == -1) return arena[base + i];
    if (map == -2) return arena[base];
    return arena[base + maps[map + i]];
}

// The elementwise loops with the operator fixed at compile time (no switch per element).
template <Kind K>
void unary_loop(const float* x, float* out, int n, float alpha) {
    for (int i = 0; i < n; ++i) out[i] = unary<float>(K, x[i], alpha);
}

template <Kind K>
void binary_loop(const float* a, int map_a, const float* b, int map_b, const std::int32_t* maps, float* out, int n) {
    if (map_a == -1 && map_b == -1) {
        for (int i = 0; i < n; ++i) out[i] = binary<float>(K, a[i], b[i]);
    } else if (map_a == -1 && map_b == -2) {
        const float y = *b;
        for (int i = 0; i < n; ++i) out[i] = binary<float>(K, a[i], y);
    } else if (map_a == -2 && map_b == -1) {
        const float x = *a;
        for (int i = 0; i < n; ++i) out[i] = binary<float>(K, x, b[i]);
    } else {
        for (int i = 0; i < n; ++i) out[i] = binary<float>(K, read(a, 0, map_a, maps, i), read(b, 0, map_b, maps, i));
    }
}

#define TONEMORPH_UNARY(K) case Kind::K: return unary_loop<Kind::K>(x, out, n, alpha);
void run_unary(Kind kind, const float* x, float* out, int n, float alpha) {
    switch (kind) {
        TONEMORPH_UNARY(Identity) TONEMORPH_UNARY(Neg) TONEMORPH_UNARY(Abs) TONEMORPH_UNARY(Sqrt)
        TONEMORPH_UNARY(Exp) TONEMORPH_UNARY(Log) TONEMORPH_UNARY(Sigmoid) TONEMORPH_UNARY(Tanh)
        TONEMORPH_UNARY(Relu) TONEMORPH_UNARY(LeakyRelu) TONEMORPH_UNARY(Softplus) TONEMORPH_UNARY(Reciprocal)
        TONEMORPH_UNARY(Not)
        default: return;
    }
}
#undef TONEMORPH_UNARY

#define TONEMORPH_BINARY(K) case Kind::K: return binary_loop<Kind::K>(a, map_a, b, map_b, maps, out, n);
void run_binary(Kind kind, const float* a, int map_a, const float* b, int map_b, const std::int32_t* maps, float* out,
                int n) {
    switch (kind) {
        TONEMORPH_BINARY(Add) TONEMORPH_BINARY(Sub) TONEMORPH_BINARY(Mul) TONEMORPH_BINARY(Div)
        TONEMORPH_BINARY(Pow) TONEMORPH_BINARY(Max) TONEMORPH_BINARY(Min) TONEMORPH_BINARY(Greater)
        TONEMORPH_BINARY(Less) TONEMORPH_BINARY(GreaterOrEqual) TONEMORPH_BINARY(LessOrEqual)
        TONEMORPH_BINARY(Equal) TONEMORPH_BINARY(And) TONEMORPH_BINARY(Or)
        default: return;
    }
}
#undef TONEMORPH_BINARY

}  // namespace

void NativeGraph::run(float* a) const {
    const std::int32_t* maps = maps_.data();
    for (const Step& s : steps_) {
        float* out = a + s.out;
        switch (s.op) {
            case Op::Unary: run_unary(s.kind, a + s.in[0], out, s.n, s.alpha); break;
            case Op::Binary: run_binary(s.kind, a + s.in[0], s.map[0], a + s.in[1], s.map[1], maps, out, s.n); break;
            case Op::Clip: {
                const float* x = a + s.in[0];
                for (int i = 0; i < s.n; ++i) out[i] = std::min(std::max(x[i], s.alpha), s.epsilon);
                break;
            }
            case Op::Where:
                for (int i = 0; i < s.n; ++i)
                    out[i] = read(a, s.in[0], s.map[0], maps, i) != 0.0f ? read(a, s.in[1], s.map[1], maps, i)
                                                                         : read(a, s.in[2], s.map[2], maps, i);
                break;
            case Op::MatMul: {
                const WeightMatrix& m = matrices_[static_cast<std::size_t>(s.matrix)];
                for (int r = 0; r < s.rows; ++r) m.multiply(a + s.in[0] + r * s.cols, out + r * m.rows());
                if (s.bias >= 0)
                    for (int i = 0; i < s.n; ++i) out[i] += a[s.bias + i];
                break;
            }
            case Op::LayerNorm:
                // y = (x - mean) / sqrt(var + eps) * scale + bias over the last `cols` elements
                for (int r = 0; r < s.rows; ++r) {
                    const float* x = a + s.in[0] + r * s.cols;
                    float* y = out + r * s.cols;
                    // Eight partial sums: independent chains (and lanes) where one running sum waits on each add.
                    float part[8] = {};
                    int i = 0;
                    for (; i + 8 <= s.cols; i += 8)
                        for (int j = 0; j < 8; ++j) part[j] += x[i + j];
                    float mean = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
                    for (; i < s.cols; ++i) mean += x[i];
                    mean /= static_cast<float>(s.cols);
                    std::fill(std::begin(part), std::end(part), 0.0f);
                    for (i = 0; i + 8 <= s.cols; i += 8)
                        for (int j = 0; j < 8; ++j) part[j] += (x[i + j] - mean) * (x[i + j] - mean);
                    float var = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
                    for (; i < s.cols; ++i) var += (x[i] - mean) * (x[i] - mean);
                    const float inv = 1.0f / std::sqrt(var / static_cast<float>(s.cols) + s.epsilon);
                    const float* scale = a + s.scale;
                    if (s.bias >= 0)
                        for (int i = 0; i < s.cols; ++i) y[i] = (x[i] - mean) * inv * scale[i] + a[s.bias + i];
                    else
                        for (int i = 0; i < s.cols; ++i) y[i] = (x[i] - mean) * inv * scale[i];
                    if (s.activation)
                        for (int i = 0; i < s.cols; ++i) y[i] = y[i] >= 0.0f ? y[i] : s.alpha * y[i];
                }
                break;
            case Op::Gather: {
                const float* x = a + s.in[0];
                const std::int32_t* m = maps + s.map[0];
                for (int i = 0; i < s.n; ++i) out[i] = x[m[i]];
                break;
            }
            case Op::Scatter: {
                const float* x = a + s.in[0];
                const std::int32_t* m = maps + s.map[0];
                for (int i = 0; i < s.n; ++i) out[m[i]] = x[i];
                break;
            }
            case Op::Gru: {
                // z = sig(Wz x + Rz h + b), r = sig(Wr x + Rr h + b),
                // n = tanh(Wh x + bW + r . (Rh h + bR))  [linear_before_reset]  or  tanh(Wh x + Rh (r . h) + b)
                // h' = (1 - z) n + z h
                const int h = s.hidden;
                float* gx = a + s.scratch;
                float* gh = gx + 3 * h;
                float* rh = gh + 3 * h;
                float* state = a + s.y_h;
                const float* wb = a + s.bias;
                const float* rb = wb + 3 * h;
                if (s.state_in >= 0) std::copy(a + s.state_in, a + s.state_in + h, state);
                else std::fill(state, state + h, 0.0f);
                for (int t = 0; t < s.seq; ++t) {
                    matrices_[static_cast<std::size_t>(s.matrix)].multiply(a + s.in[0] + t * s.input_size, gx);
                    matrices_[static_cast<std::size_t>(s.matrix2)].multiply(state, gh);
                    for (int i = 0; i < 2 * h; ++i) gx[i] = fast_sigmoid(gx[i] + wb[i] + gh[i] + rb[i]);
                    if (s.linear_before_reset) {
                        for (int i = 0; i < h; ++i)
                            rh[i] = fast_tanh(gx[2 * h + i] + wb[2 * h + i] + gx[h + i] * (gh[2 * h + i] + rb[2 * h + i]));
                    } else {
                        for (int i = 0; i < h; ++i) rh[i] = gx[h + i] * state[i];
                        matrices_[static_cast<std::size_t>(s.matrix3)].multiply(rh, gh + 2 * h);
                        for (int i = 0; i < h; ++i)
                            rh[i] = fast_tanh(gx[2 * h + i] + wb[2 * h + i] + gh[2 * h + i] + rb[2 * h + i]);
                    }
                    for (int i = 0; i < h; ++i) state[i] = (1.0f - gx[i]) * rh[i] + gx[i] * state[i];
                    std::copy(state, state + h, a + s.y + t * h);
                }
                break;
            }
        }
    }
}

}  // namespace tonemorph
