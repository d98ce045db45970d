//! The allow-list: the only globals a pickle may name. Anything else is refused on sight.
//!
//! Every entry is data, never behaviour: the unpickler implements what each allowed name
//! means itself (see `calls.rs`) and imports or calls nothing.

use crate::dtype::TorchType;

/// Globals a torch.save pickle may name.
pub(super) fn allowed(module: &str, name: &str) -> bool {
    match module {
        "collections" => name == "OrderedDict",
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor"
                | "_rebuild_tensor_v2"
                | "_rebuild_tensor_v3"
                | "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
                | "_rebuild_qtensor"
        ),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch.nn.parameter" => name == "Parameter",
        "torch.storage" => name == "UntypedStorage",
        "torch" => {
            matches!(name, "Size" | "Tensor" | "UntypedStorage")
                || TorchType::from_storage_class(name).is_some()
                || TorchType::from_dtype_name(name).is_some()
                || is_qscheme(name)
        }
        // Protocol 2 spells `bytes` as `_codecs.encode(text, 'latin1')`.
        "_codecs" => name == "encode",
        "builtins" | "__builtin__" => matches!(name, "set" | "frozenset"),
        _ => false,
    }
}

/// `torch.per_tensor_affine` and the other quantization schemes `_rebuild_qtensor` names.
fn is_qscheme(name: &str) -> bool {
    matches!(
        name,
        "per_tensor_affine"
            | "per_channel_affine"
            | "per_tensor_symmetric"
            | "per_channel_symmetric"
            | "per_channel_affine_float_qparams"
    )
}
