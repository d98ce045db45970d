// The trainer's C++ shim: what tch does not expose of libtorch, behind a C ABI that Rust
// declares in src/shim/. One .cpp per concern (script_module.cpp: TorchScript modules); every
// function follows the same rules, so the Rust side needs one way to call them all:
//
// * Fallible functions return `char*`: null on success, else a message the caller frees with
//   lrplan_free_string. A C++ exception never crosses `extern "C"` (undefined behaviour):
//   guard() below turns each one into that message.
// * A tensor crosses as `torch::Tensor*`, exactly tch's `C_tensor` (torch-sys's
//   `typedef torch::Tensor *tensor`): one returned to Rust is allocated with `new` and owned
//   by a tch::Tensor from then on (tch frees it with `delete`); one passed in is borrowed.
// * Handles (LrplanScriptModule*) are opaque to Rust and freed by their own *_free function.
#pragma once

#include <torch/script.h>

#include <cstring>
#include <string>

extern "C" {
void lrplan_free_string(char* s);
}

namespace lrplan {

// A heap copy of `message` for Rust to read and free with lrplan_free_string.
inline char* error_string(const std::string& message) {
  char* s = static_cast<char*>(std::malloc(message.size() + 1));
  if (s != nullptr) {
    std::memcpy(s, message.c_str(), message.size() + 1);
  }
  return s;
}

// Runs `body`; returns null, or the message of whatever it threw. c10::Error's own message
// carries a C++ backtrace of libtorch's frames that means nothing to a user: it is left out
// (TorchScript's traceback, which names the model's code, stays).
template <typename F>
char* guard(F&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const c10::Error& e) {
    return error_string(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return error_string(e.what());
  } catch (...) {
    return error_string("unknown C++ exception");
  }
}

}  // namespace lrplan
