//! The subset of ONNX's `onnx.proto` (IR) that mvt writes and reads, as hand-written prost messages.
//!
//! Field numbers and types are the official ones (onnx/onnx.proto, proto2), so any ONNX reader understands what we
//! write and prost skips every field of a foreign file that is not modelled here. Repeated scalars that proto2
//! declares unpacked (`dims`, attribute `ints`/`floats`) are written unpacked, exactly as the onnx package does;
//! proto2 `optional` attribute values are `Option`s so that a zero value is still written (the checker wants one).
//!
//! Two views of a model: [`ModelProto`] with the whole graph (the exporter writes it) and [`ModelHeader`], which
//! decodes only the metadata and the graph's inputs and outputs and skips nodes and weights (the library reads it
//! to validate a file before ONNX Runtime sees it).

use std::path::Path;

use prost::Message;

/// The IR version we write: IR 8 is the newest that onnxruntime 1.15 (the oldest release the tests load our files
/// in; libmvt itself needs 1.17) accepts, and it has everything the graph needs.
pub const IR_VERSION: i64 = 8;
/// The default-domain opset we write: 17 is the first with LayerNormalization.
pub const OPSET_VERSION: i64 = 17;

/// `ModelProto`: the top-level ONNX file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "4")]
    pub domain: String,
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Stays the last field: prost encodes in declaration order, so the `mvt.digest` entry that
    /// `model_file::sealed` appends is the file's last field.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `OperatorSetIdProto`: an operator set the model uses (empty domain = the default ONNX domain).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `StringStringEntryProto`: one `metadata_props` entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `GraphProto`: nodes in topological order, weights, and the typed inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(string, tag = "10")]
    pub doc_string: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(string, tag = "7")]
    pub domain: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// `AttributeProto.AttributeType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AttributeType {
    Undefined = 0,
    Float = 1,
    Int = 2,
    String = 3,
    Tensor = 4,
    Graph = 5,
    Floats = 6,
    Ints = 7,
    Strings = 8,
}

/// `AttributeProto`: a named operator attribute; exactly one value field is set, matching `type`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(enumeration = "AttributeType", optional, tag = "20")]
    pub r#type: Option<i32>,
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
}

impl AttributeProto {
    pub fn int(name: &str, value: i64) -> Self {
        Self { name: name.into(), r#type: Some(AttributeType::Int as i32), i: Some(value), ..Default::default() }
    }
    pub fn float(name: &str, value: f32) -> Self {
        Self { name: name.into(), r#type: Some(AttributeType::Float as i32), f: Some(value), ..Default::default() }
    }
    pub fn string(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            r#type: Some(AttributeType::String as i32),
            s: Some(value.as_bytes().to_vec()),
            ..Default::default()
        }
    }
    pub fn ints(name: &str, values: &[i64]) -> Self {
        Self {
            name: name.into(),
            r#type: Some(AttributeType::Ints as i32),
            ints: values.to_vec(),
            ..Default::default()
        }
    }
    pub fn floats(name: &str, values: &[f32]) -> Self {
        Self {
            name: name.into(),
            r#type: Some(AttributeType::Floats as i32),
            floats: values.to_vec(),
            ..Default::default()
        }
    }
    pub fn strings(name: &str, values: &[&str]) -> Self {
        Self {
            name: name.into(),
            r#type: Some(AttributeType::Strings as i32),
            strings: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }
    pub fn tensor(name: &str, value: TensorProto) -> Self {
        Self { name: name.into(), r#type: Some(AttributeType::Tensor as i32), t: Some(value), ..Default::default() }
    }
}

/// `TensorProto.DataType` (the element types mvt uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    Undefined = 0,
    Float = 1,
    Uint8 = 2,
    Int8 = 3,
    Uint16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
}

/// `TensorProto`: a named constant; mvt always stores the values little-endian in `raw_data`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    #[prost(enumeration = "DataType", tag = "2")]
    pub data_type: i32,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(string, tag = "12")]
    pub doc_string: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

impl TensorProto {
    pub fn from_f32(name: &str, dims: &[i64], values: &[f32]) -> Self {
        debug_assert_eq!(dims.iter().product::<i64>() as usize, values.len());
        Self::raw(name, DataType::Float, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    pub fn from_i64(name: &str, dims: &[i64], values: &[i64]) -> Self {
        debug_assert_eq!(dims.iter().product::<i64>() as usize, values.len());
        Self::raw(name, DataType::Int64, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    pub fn from_i8(name: &str, dims: &[i64], values: &[i8]) -> Self {
        debug_assert_eq!(dims.iter().product::<i64>() as usize, values.len());
        Self::raw(name, DataType::Int8, dims, values.iter().map(|v| *v as u8).collect())
    }
    fn raw(name: &str, data_type: DataType, dims: &[i64], raw_data: Vec<u8>) -> Self {
        Self { dims: dims.to_vec(), data_type: data_type as i32, name: name.into(), raw_data, ..Default::default() }
    }
}

/// `ValueInfoProto`: a graph input's or output's name and type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

impl ValueInfoProto {
    /// A tensor value with its element type and shape; a dimension is a fixed size or a symbolic name.
    pub fn tensor(name: &str, elem_type: DataType, shape: &[Dim]) -> Self {
        let dim = shape
            .iter()
            .map(|d| tensor_shape_proto::Dimension {
                value: Some(match d {
                    Dim::Fixed(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
                    Dim::Named(s) => tensor_shape_proto::dimension::Value::DimParam((*s).into()),
                }),
            })
            .collect();
        Self {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: elem_type as i32,
                    shape: Some(TensorShapeProto { dim }),
                })),
            }),
            ..Default::default()
        }
    }

    /// The element type and shape, when this is a tensor value (`None` for sequences, maps, ...).
    pub fn tensor_type(&self) -> Option<(i32, Vec<Dim<String>>)> {
        let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)) }) = &self.r#type else { return None };
        let shape = t
            .shape
            .iter()
            .flat_map(|s| &s.dim)
            .map(|d| match &d.value {
                Some(tensor_shape_proto::dimension::Value::DimValue(n)) => Dim::Fixed(*n),
                Some(tensor_shape_proto::dimension::Value::DimParam(p)) => Dim::Named(p.clone()),
                None => Dim::Named(String::new()),
            })
            .collect();
        Some((t.elem_type, shape))
    }
}

/// One dimension of a declared shape: a fixed size or a symbolic (dynamic) name such as "B".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim<S = &'static str> {
    Fixed(i64),
    Named(S),
}

/// `TypeProto` (only its tensor case is modelled).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
}

pub mod type_proto {
    /// `TypeProto.Tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        #[prost(enumeration = "super::DataType", tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

pub mod tensor_shape_proto {
    /// `TensorShapeProto.Dimension`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
    }

    pub mod dimension {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(int64, tag = "1")]
            DimValue(i64),
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}

/// A reading view of `ModelProto`: the same field numbers, without the graph's nodes and weights, so decoding
/// a large model copies only its metadata and signature.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelHeader {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphSignature>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// A reading view of `GraphProto`: its name, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphSignature {
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// The largest model file mvt reads: 2 GiB - 1 bytes, the most a protobuf message (and so an ONNX file with its
/// weights inside, as mvt writes them) can hold. Checked on the file's size before anything is read.
pub const MAX_FILE_BYTES: u64 = i32::MAX as u64;

/// What [`ModelHeader::parse`] decodes at most, far above any real model: metadata entries (mvt writes 11),
/// opset imports (mvt: 1) and bytes of graph input and output declarations (mvt: under 1 KiB).
pub const MAX_METADATA_ENTRIES: usize = 1024;
pub const MAX_OPSET_IMPORTS: usize = 1024;
pub const MAX_SIGNATURE_BYTES: usize = 1 << 20;

/// Why a file could not be read as an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A directory, a device such as /dev/zero, a pipe, ...: never read.
    #[error("{path}: not a regular file ({kind})")]
    NotRegularFile { path: String, kind: &'static str },
    #[error("{path}: {size} bytes, more than a model file may have ({MAX_FILE_BYTES} bytes, the protobuf limit)")]
    TooLarge { path: String, size: u64 },
    #[error("{path}: not an ONNX file (0 bytes)")]
    Empty { path: String },
    #[error("{path}: not an ONNX file (protobuf decoding failed: {source})")]
    Decode { path: String, source: prost::DecodeError },
    /// The top-level framing is broken (see [`raw_fields`]).
    #[error("{path}: not an ONNX file ({reason})")]
    Malformed { path: String, reason: String },
    /// More of what [`ModelHeader`] decodes than [`MAX_METADATA_ENTRIES`] and its siblings allow.
    #[error("{path}: {what}, more than a model file may have ({limit}, a limit of mvt's reader)")]
    HeaderTooLarge { path: String, what: String, limit: usize },
}

/// Read a whole model file, refusing before any read what is not a regular file or is larger than
/// [`MAX_FILE_BYTES`]; the read itself stops there too (a file that grows meanwhile). The one way mvt reads a
/// model file (the metadata reader, the library's loader).
pub fn read_file(path: &Path) -> Result<Vec<u8>, OnnxError> {
    use std::io::Read;
    let shown = || path.display().to_string();
    let io = |source| OnnxError::Io { path: shown(), source };
    // The type is checked before opening (opening a pipe would wait for a writer) and again on the open file.
    let refuse = |info: &std::fs::Metadata| {
        if info.is_file() {
            return Ok(());
        }
        use std::os::unix::fs::FileTypeExt;
        let t = info.file_type();
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_fifo() {
            "a pipe"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a plain file"
        };
        Err(OnnxError::NotRegularFile { path: shown(), kind })
    };
    refuse(&std::fs::metadata(path).map_err(io)?)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let info = file.metadata().map_err(io)?;
    refuse(&info)?;
    if info.len() > MAX_FILE_BYTES {
        return Err(OnnxError::TooLarge { path: shown(), size: info.len() });
    }
    // The size is bounded above; the read stops one byte past the limit whatever the size said.
    let mut bytes = Vec::with_capacity(info.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(OnnxError::TooLarge { path: shown(), size: bytes.len() as u64 });
    }
    Ok(bytes)
}

/// One top-level field of a protobuf message, as it lies in the bytes: its field number and the byte range of the
/// whole field (key, length and payload) and of its payload alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawField {
    pub number: u32,
    pub field: std::ops::Range<usize>,
    pub payload: std::ops::Range<usize>,
}

/// The top-level fields of a message, in order, without decoding any of them: [`RawFields`].
pub fn raw_fields(bytes: &[u8]) -> RawFields<'_> {
    RawFields { bytes, at: 0 }
}

/// An iterator over a message's top-level fields that allocates nothing; a framing error, such as a truncated
/// file, is its last item (the reason). Groups (wire types 3, 4) are refused: ONNX has none.
pub struct RawFields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for RawFields<'_> {
    type Item = Result<RawField, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let field = self.field();
        // After an error there is no next field.
        if field.is_err() {
            self.at = self.bytes.len();
        }
        Some(field)
    }
}

impl RawFields<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut buf = &self.bytes[self.at..];
        let before = buf.len();
        let value = prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
        self.at += before - buf.len();
        Ok(value)
    }

    fn field(&mut self) -> Result<RawField, String> {
        let start = self.at;
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).ok().filter(|&n| n > 0 && n < (1 << 29));
        let number = number.ok_or_else(|| format!("invalid field number {} at byte {start}", key >> 3))?;
        let (wire, mut payload_start) = (key & 7, self.at);
        let end = match wire {
            0 => self.varint().map(|_| Some(self.at))?,
            1 => self.at.checked_add(8),
            5 => self.at.checked_add(4),
            2 => {
                let len = self.varint()?;
                payload_start = self.at;
                usize::try_from(len).ok().and_then(|len| self.at.checked_add(len))
            }
            _ => return Err(format!("unsupported wire type {wire} at byte {start}")),
        };
        let end = end
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("field {number} at byte {start} runs past the end (the file is truncated)"))?;
        self.at = end;
        Ok(RawField { number, field: start..end, payload: payload_start..end })
    }
}

impl ModelHeader {
    /// Decode the header of the ONNX file at `path` (read with [`read_file`]).
    pub fn read(path: &Path) -> Result<Self, OnnxError> {
        Self::parse(&read_file(path)?, &path.display().to_string())
    }

    /// Decode the header from an ONNX file's bytes; `source` names them in errors. Empty bytes are refused
    /// (protobuf would read them as an empty model), and so is a header larger than [`MAX_METADATA_ENTRIES`] and its siblings allow, counted on
    /// the raw fields before decoding: decoded, each tiny entry costs tens of bytes, so a file of millions of them
    /// would ask for many times its own size.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self, OnnxError> {
        if bytes.is_empty() {
            return Err(OnnxError::Empty { path: source.to_string() });
        }
        let malformed = |reason| OnnxError::Malformed { path: source.to_string(), reason };
        let (mut entries, mut opsets, mut signature_bytes) = (0, 0, 0);
        for field in raw_fields(bytes) {
            let field = field.map_err(malformed)?;
            match field.number {
                14 => entries += 1,
                8 => opsets += 1,
                7 => {
                    for inner in raw_fields(&bytes[field.payload]) {
                        let inner = inner.map_err(|reason| malformed(format!("in the graph: {reason}")))?;
                        if inner.number == 11 || inner.number == 12 {
                            signature_bytes += inner.field.len();
                        }
                    }
                }
                _ => {}
            }
        }
        for (count, limit, what) in [
            (entries, MAX_METADATA_ENTRIES, "metadata entries"),
            (opsets, MAX_OPSET_IMPORTS, "opset imports"),
            (signature_bytes, MAX_SIGNATURE_BYTES, "bytes of graph inputs and outputs"),
        ] {
            if count > limit {
                let what = format!("{count} {what}");
                return Err(OnnxError::HeaderTooLarge { path: source.to_string(), what, limit });
            }
        }
        Self::decode(bytes).map_err(|e| OnnxError::Decode { path: source.to_string(), source: e })
    }

    /// The default-domain opset version the model imports, if any.
    pub fn default_opset(&self) -> Option<i64> {
        self.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version)
    }
}

impl ModelProto {
    /// Serialize and write the model to `path`.
    pub fn write(&self, path: &Path) -> Result<(), OnnxError> {
        std::fs::write(path, self.encode_to_vec())
            .map_err(|source| OnnxError::Io { path: path.display().to_string(), source })
    }
}
