//! TensorFlow Lite models on candle: a bounds-checked flatbuffer reader, the schema subset the
//! MediaPipe face models use, NHWC window kernels, and the interpreter that runs the graph.

mod flatbuffer;
mod interpreter;
mod kernels;
mod schema;

pub use interpreter::TfliteModel;
