// TorchScript modules for src/model/torchscript.rs: load, the module tree with each module's
// class name (which the parameter-group rule needs and tch does not expose), every parameter
// and buffer in state-dict order, per-module train/eval flags, forward, and save.
//
// The handle keeps the module tree flattened once at load: modules in named_modules() order
// (root first, pre-order) and tensor slots in state_dict() order. Rust addresses both by
// index, so no name is parsed twice and nothing is looked up by string per step.

#include "shim.h"

#include <sstream>
#include <vector>

namespace {

// One parameter or buffer: which module holds it, in which attribute slot.
struct TensorSlot {
  size_t module;
  size_t slot;
  std::string attribute;
  bool parameter;
};

}  // namespace

struct LrplanScriptModule {
  torch::jit::Module root;
  std::vector<torch::jit::Module> modules;
  std::vector<std::string> module_names;
  std::vector<std::string> module_types;
  std::vector<size_t> training_slots;
  std::vector<TensorSlot> tensors;
};

namespace {

// The class name a module was scripted or traced from: the last atom of its qualified type
// name (`__torch__.torch.nn.modules.batchnorm.___torch_mangle_4.BatchNorm2d` → BatchNorm2d).
std::string class_name(const torch::jit::Module& m) {
  auto qualified = m.type()->name();
  return qualified ? qualified->name() : std::string("?");
}

// state_dict() order within one module: parameters, then buffers, each in attribute order.
// An optional parameter left unset (a conv's bias=False) holds None and is no tensor.
void add_tensor_slots(LrplanScriptModule& h, size_t index) {
  const auto& type = h.modules[index].type();
  const auto& object = h.modules[index]._ivalue();
  for (bool parameters : {true, false}) {
    for (size_t s = 0; s < type->numAttributes(); ++s) {
      bool wanted = parameters ? type->is_parameter(s) : type->is_buffer(s);
      if (wanted && object->getSlot(s).isTensor()) {
        h.tensors.push_back({index, s, type->getAttributeName(s), parameters});
      }
    }
  }
}

void flatten(LrplanScriptModule& h) {
  for (const auto& named : h.root.named_modules()) {
    const auto& type = named.value.type();
    auto training = type->findAttributeSlot("training");
    if (!training) {
      throw std::runtime_error("module '" + named.name + "' has no 'training' attribute");
    }
    h.modules.push_back(named.value);
    h.module_names.push_back(named.name);
    h.module_types.push_back(class_name(named.value));
    h.training_slots.push_back(*training);
    add_tensor_slots(h, h.modules.size() - 1);
  }
}

c10::Device device_of_int(int device) {
  return device < 0 ? c10::Device(c10::kCPU) : c10::Device(c10::kCUDA, device);
}

void check_index(size_t i, size_t n, const char* what) {
  if (i >= n) {
    throw std::out_of_range(std::string(what) + " index " + std::to_string(i) + " of " +
                            std::to_string(n));
  }
}

}  // namespace

extern "C" {

void lrplan_free_string(char* s) { std::free(s); }

// Loads a TorchScript file onto `device` (-1: CPU, n: CUDA n, as tch's Device::c_int).
char* lrplan_sm_load(const char* path, int device, LrplanScriptModule** out) {
  *out = nullptr;
  return lrplan::guard([&] {
    auto h = std::make_unique<LrplanScriptModule>();
    h->root = torch::jit::load(path, device_of_int(device));
    flatten(*h);
    *out = h.release();
  });
}

void lrplan_sm_free(LrplanScriptModule* h) { delete h; }

size_t lrplan_sm_module_count(const LrplanScriptModule* h) { return h->modules.size(); }

// The dotted name ("" for the root) and class name of module i; valid while h lives.
char* lrplan_sm_module_info(const LrplanScriptModule* h, size_t i, const char** name,
                            const char** type) {
  return lrplan::guard([&] {
    check_index(i, h->modules.size(), "module");
    *name = h->module_names[i].c_str();
    *type = h->module_types[i].c_str();
  });
}

size_t lrplan_sm_tensor_count(const LrplanScriptModule* h) { return h->tensors.size(); }

// Which module holds tensor i, under which attribute name, and whether it is a parameter.
char* lrplan_sm_tensor_info(const LrplanScriptModule* h, size_t i, size_t* module,
                            const char** attribute, bool* parameter) {
  return lrplan::guard([&] {
    check_index(i, h->tensors.size(), "tensor");
    const auto& t = h->tensors[i];
    *module = t.module;
    *attribute = t.attribute.c_str();
    *parameter = t.parameter;
  });
}

// The tensor in slot i (sharing storage and autograd identity with the module's).
char* lrplan_sm_tensor_get(const LrplanScriptModule* h, size_t i, torch::Tensor** out) {
  *out = nullptr;
  return lrplan::guard([&] {
    check_index(i, h->tensors.size(), "tensor");
    const auto& t = h->tensors[i];
    *out = new torch::Tensor(h->modules[t.module]._ivalue()->getSlot(t.slot).toTensor());
  });
}

// Puts `value` in slot i: what forward reads from then on.
char* lrplan_sm_tensor_set(LrplanScriptModule* h, size_t i, const torch::Tensor* value) {
  return lrplan::guard([&] {
    check_index(i, h->tensors.size(), "tensor");
    const auto& t = h->tensors[i];
    h->modules[t.module]._ivalue()->setSlot(t.slot, *value);
  });
}

// Sets module i's own `training` flag (not its children's, unlike Module::train).
char* lrplan_sm_set_training(LrplanScriptModule* h, size_t i, bool on) {
  return lrplan::guard([&] {
    check_index(i, h->modules.size(), "module");
    h->modules[i]._ivalue()->setSlot(h->training_slots[i], on);
  });
}

// forward(x); an output that is not one tensor (a tuple, a dict) is an error naming it.
char* lrplan_sm_forward(LrplanScriptModule* h, const torch::Tensor* x, torch::Tensor** out) {
  *out = nullptr;
  return lrplan::guard([&] {
    auto y = h->root.forward({*x});
    if (!y.isTensor()) {
      throw std::runtime_error("forward returned a " + y.type()->repr_str() +
                               ", not a tensor of logits");
    }
    *out = new torch::Tensor(y.toTensor());
  });
}

// The module as a TorchScript file (what torch.jit.save writes), in a buffer the caller
// frees with lrplan_free_string.
char* lrplan_sm_save(const LrplanScriptModule* h, char** bytes, size_t* len) {
  *bytes = nullptr;
  *len = 0;
  return lrplan::guard([&] {
    std::ostringstream stream;
    h->root.save(stream);
    auto data = stream.str();
    char* copy = static_cast<char*>(std::malloc(data.size() == 0 ? 1 : data.size()));
    if (copy == nullptr) {
      throw std::bad_alloc();
    }
    std::memcpy(copy, data.data(), data.size());
    *bytes = copy;
    *len = data.size();
  });
}

}  // extern "C"
