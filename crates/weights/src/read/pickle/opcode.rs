//! The pickle opcodes, named as Python's `pickletools` names them, grouped by what they do.
//!
//! Each family is its own enum so that the unpickler's handler for it matches exhaustively on
//! exactly the opcodes it owns: adding an opcode to a family is a compile error until its
//! handler says what it does. The byte values are the enums' discriminants.

/// Declares a family of opcodes with their byte values, and `from_byte` for it.
macro_rules! family {
    ($(#[$doc:meta])* $name:ident { $($op:ident = $byte:expr,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub(super) enum $name {
            $($op = $byte,)+
        }

        impl $name {
            const fn from_byte(b: u8) -> Option<Self> {
                match b {
                    $(x if x == $byte => Some(Self::$op),)+
                    _ => None,
                }
            }
        }
    };
}

family! {
    /// Protocol header, framing and the end of the pickle.
    Framing {
        Proto = 0x80,
        Frame = 0x95,
        Stop = b'.',
    }
}

family! {
    /// Marks and plain stack manipulation.
    Stack {
        Mark = b'(',
        Pop = b'0',
        PopMark = b'1',
        Dup = b'2',
    }
}

family! {
    /// The memo: values saved by index so that later parts of the pickle can share them.
    Memo {
        Get = b'g',
        BinGet = b'h',
        LongBinGet = b'j',
        Put = b'p',
        BinPut = b'q',
        LongBinPut = b'r',
        Memoize = 0x94,
    }
}

family! {
    /// None, booleans, integers and floats.
    Number {
        None = b'N',
        NewTrue = 0x88,
        NewFalse = 0x89,
        Int = b'I',
        BinInt = b'J',
        BinInt1 = b'K',
        BinInt2 = b'M',
        Long = b'L',
        Long1 = 0x8a,
        Long4 = 0x8b,
        Float = b'F',
        BinFloat = b'G',
    }
}

family! {
    /// Text (Python 3 `str`, Python 2 `str` and `unicode`) and bytes.
    Text {
        String = b'S',
        BinString = b'T',
        ShortBinString = b'U',
        Unicode = b'V',
        BinUnicode = b'X',
        ShortBinUnicode = 0x8c,
        BinUnicode8 = 0x8d,
        BinBytes = b'B',
        ShortBinBytes = b'C',
        BinBytes8 = 0x8e,
        ByteArray8 = 0x96,
    }
}

family! {
    /// Tuples, lists, dicts and sets, built whole or filled item by item.
    Collection {
        EmptyTuple = b')',
        Tuple = b't',
        Tuple1 = 0x85,
        Tuple2 = 0x86,
        Tuple3 = 0x87,
        EmptyList = b']',
        List = b'l',
        Append = b'a',
        Appends = b'e',
        EmptyDict = b'}',
        Dict = b'd',
        SetItem = b's',
        SetItems = b'u',
        EmptySet = 0x8f,
        AddItems = 0x90,
        FrozenSet = 0x91,
    }
}

family! {
    /// Naming a global and calling or instantiating it: the only way a pickle runs code.
    Object {
        Global = b'c',
        StackGlobal = 0x93,
        Reduce = b'R',
        NewObj = 0x81,
        NewObjEx = 0x92,
        Build = b'b',
        Inst = b'i',
        Obj = b'o',
        Ext1 = 0x82,
        Ext2 = 0x83,
        Ext4 = 0x84,
    }
}

family! {
    /// References to objects kept outside the pickle (torch.save's storages).
    Persistent {
        PersId = b'P',
        BinPersId = b'Q',
    }
}

family! {
    /// Protocol 5 out-of-band buffers.
    Buffer {
        NextBuffer = 0x97,
        ReadonlyBuffer = 0x98,
    }
}

/// Every opcode of pickle protocols 0 to 5, by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opcode {
    Framing(Framing),
    Stack(Stack),
    Memo(Memo),
    Number(Number),
    Text(Text),
    Collection(Collection),
    Object(Object),
    Persistent(Persistent),
    Buffer(Buffer),
}

impl Opcode {
    /// The opcode a byte stands for, looked up among the families.
    const fn decode(b: u8) -> Option<Opcode> {
        macro_rules! first_family {
            ($($family:ident),+) => {
                $(if let Some(op) = $family::from_byte(b) {
                    return Some(Opcode::$family(op));
                })+
            };
        }
        first_family!(
            Framing, Stack, Memo, Number, Text, Collection, Object, Persistent, Buffer
        );
        None
    }
}

/// Every byte's opcode, worked out at compile time: decoding is one lookup per opcode.
const OPCODES: [Option<Opcode>; 256] = {
    let mut table = [None; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = Opcode::decode(b as u8);
        b += 1;
    }
    table
};

impl TryFrom<u8> for Opcode {
    /// The byte, which is no opcode.
    type Error = u8;

    fn try_from(b: u8) -> Result<Self, u8> {
        OPCODES[usize::from(b)].ok_or(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_decodes_to_at_most_one_opcode_with_that_value() {
        let mut known = 0;
        for b in 0..=u8::MAX {
            let Ok(op) = Opcode::try_from(b) else {
                continue;
            };
            known += 1;
            let value = match op {
                Opcode::Framing(o) => o as u8,
                Opcode::Stack(o) => o as u8,
                Opcode::Memo(o) => o as u8,
                Opcode::Number(o) => o as u8,
                Opcode::Text(o) => o as u8,
                Opcode::Collection(o) => o as u8,
                Opcode::Object(o) => o as u8,
                Opcode::Persistent(o) => o as u8,
                Opcode::Buffer(o) => o as u8,
            };
            assert_eq!(value, b);
        }
        // pickletools.opcodes lists 68 for protocols 0 to 5.
        assert_eq!(known, 68);
    }
}
