// The engine's inference graph (engine/onnx_graph.hpp) as an onnx::ModelProto.
#include "sgdlab/onnx/onnx_model.hpp"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <bit>
#include <cstring>
#include <sstream>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/onnx_graph.hpp"

namespace sgdlab {
namespace {

// ONNX stores raw tensor data little-endian; sgdlab's buffers are copied as they are.
static_assert(std::endian::native == std::endian::little, "raw_data is written as in memory");

// The IR version that came with each opset's ONNX release (ONNX's docs/Versioning.md):
// runtimes that know the opset know its IR.
int ir_version_for(int opset) {
  if (opset <= 14) return 7;  // ONNX 1.8 and 1.9
  return 8;                   // 1.10 to 1.12 (opsets 15 to 17)
}

void check_opset(const OnnxGraph& graph, int opset) {
  const int max = onnx_max_opset();
  if (opset < kOnnxMinOpset)
    SGDLAB_INPUT_ERROR("--opset ", opset, ": too low; sgdlab writes opsets ", kOnnxMinOpset, " to ",
                       max, " (", kOnnxMinOpset,
                       " is the oldest its operators' semantics are written and tested against)");
  if (opset > max)
    SGDLAB_INPUT_ERROR("--opset ", opset, ": too high; the ONNX library sgdlab was built with (",
                       onnx_library_version(), ") knows opsets up to ", max);
  for (const OnnxNode& n : graph.nodes())
    if (!onnx::OpSchemaRegistry::Schema(n.op, opset, ""))
      SGDLAB_INPUT_ERROR("--opset ", opset, ": has no operator ", n.op, ", which node ", n.name,
                         " needs");
}

void set_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void add_constant(onnx::GraphProto* g, const OnnxConstant& c) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(c.name);
  for (int64_t d : c.shape) t->add_dims(d);
  if (c.is_int64) {
    t->set_data_type(onnx::TensorProto::INT64);
    t->set_raw_data(
        std::string(reinterpret_cast<const char*>(c.ints.data()), c.ints.size() * sizeof(int64_t)));
  } else {
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(c.floats.data()),
                                c.floats.size() * sizeof(float)));
  }
}

void add_attribute(onnx::NodeProto* n, const OnnxAttribute& a) {
  onnx::AttributeProto* p = n->add_attribute();
  p->set_name(a.name);
  if (const auto* i = std::get_if<int64_t>(&a.value)) {
    p->set_type(onnx::AttributeProto::INT);
    p->set_i(*i);
  } else if (const auto* f = std::get_if<float>(&a.value)) {
    p->set_type(onnx::AttributeProto::FLOAT);
    p->set_f(*f);
  } else {
    p->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : std::get<std::vector<int64_t>>(a.value)) p->add_ints(v);
  }
}

void add_node(onnx::GraphProto* g, const OnnxNode& n) {
  onnx::NodeProto* p = g->add_node();
  p->set_op_type(n.op);
  p->set_name(n.name);
  for (const std::string& s : n.inputs) p->add_input(s);
  for (const std::string& s : n.outputs) p->add_output(s);
  for (const OnnxAttribute& a : n.attributes) add_attribute(p, a);
}

// The range of the pixels as the data stores them, where the format says it: the USPS
// files' [-1, 1], or uint8 images' 0 to 255. Empty for float32 arrays.
std::string pixel_range(const ModelCheckpoint& c) {
  if (c.data_format == "usps") return "[-1, 1]";
  if (c.scaling.divide == 255) return "[0, 255]";
  return "";
}

// How a user prepares an image the way training did, in words.
std::string preprocessing_text(const ModelCheckpoint& c) {
  const Scaling& s = c.scaling;
  std::ostringstream divided;
  divided << "pixel";
  if (s.divide != 1) divided << " / " << s.divide;
  const std::string x =
      s.mean.empty() ? divided.str() : "(" + divided.str() + " - mean[c]) / std[c]";
  const std::string range = pixel_range(c);
  return "input[n, c, h, w] = " + x +
         (range.empty()
              ? ", pixels as the data's float32 arrays store them"
              : ", pixels in " + range + " as the " + c.data_format + " data stores them");
}

void add_metadata(onnx::ModelProto& m, const ModelCheckpoint& c) {
  std::vector<std::pair<std::string, std::string>> props = {
      {"format", "sgdlab-onnx"},
      {"sgdlab_version", build_version()},
      {"model", model_to_json(c.model).dump()},
      {"hyperparameters", c.hyperparameters.dump()},
      {"epoch", std::to_string(c.epoch)},
      {"data_format", c.data_format},
      {"scaling", c.scaling.to_json().dump()},
      {"preprocessing", preprocessing_text(c)},
  };
  if (const std::string range = pixel_range(c); !range.empty())
    props.push_back({"pixel_range", range});
  for (const auto& [key, value] : props) {
    onnx::StringStringEntryProto* e = m.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
  }
}

onnx::ModelProto model_proto(const ModelCheckpoint& c, const OnnxGraph& graph, int opset) {
  onnx::ModelProto m;
  m.set_ir_version(ir_version_for(opset));
  m.set_producer_name("sgdlab");
  m.set_producer_version(build_version());
  m.set_doc_string("sgdlab " + std::string(build_version()) + ": " + c.model.name + ", " +
                   std::to_string(c.epoch) + " epochs; " + preprocessing_text(c));
  onnx::OperatorSetIdProto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(c.model.name);
  const Shape3& in = c.model.input;
  set_type(g->add_input(), "input", {in.C, in.H, in.W});
  set_type(g->add_output(), "logits", {c.model.classes});
  set_type(g->add_output(), "probabilities", {c.model.classes});
  for (const OnnxConstant& k : graph.constants()) add_constant(g, k);
  for (const OnnxNode& n : graph.nodes()) add_node(g, n);
  add_metadata(m, c);
  return m;
}

// The library's checker, then strict shape inference, which also merges the shapes it
// infers with the declared outputs'. A failure is sgdlab's bug, not the user's.
void validate(const onnx::ModelProto& m) {
  try {
    onnx::checker::check_model(m);
    onnx::ModelProto inferred = m;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    SGDLAB_THROW("the exported ONNX model fails the ONNX library's checks: ", e.what());
  }
}

}  // namespace

int onnx_max_opset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance().LastReleaseVersionMap().at("");
}

const char* onnx_library_version() {
  return ONNX_LIBRARY_VERSION;
}

std::string onnx_model_bytes(const ModelCheckpoint& c, int opset, const std::string& source) {
  const OnnxGraph graph = onnx_inference_graph(c.model, c.params);
  check_opset(graph, opset);
  const onnx::ModelProto m = model_proto(c, graph, opset);
  validate(m);
  std::string bytes;
  SGDLAB_CHECK(m.SerializeToString(&bytes), source, ": the ONNX model serializes");
  return bytes;
}

}  // namespace sgdlab
