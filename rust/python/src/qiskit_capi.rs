//! Reading a Qiskit `CircuitData` through Qiskit's own C API.
//!
//! Walking `QuantumCircuit.data` from Python makes Qiskit build a
//! `CircuitInstruction`, a name string, a qubit tuple and a parameter list
//! for every instruction: about a microsecond each, longer than simulating a
//! small circuit. Qiskit 2.x publishes a C API to Python extensions as a
//! table of function pointers in a capsule (the same scheme as numpy's C API),
//! which hands out borrowed views of its native instructions instead.
//!
//! Qiskit promises that table's layout only within a minor release, so the
//! slot numbers below are those of the release they were read from, and the
//! table is used only when the running Qiskit reports that same minor
//! version. Any other Qiskit, or `FERROQ_QISKIT_CAPI=0`, leaves the caller on
//! its portable path through Python objects, which gives the same circuit.

use std::ffi::{CStr, c_char, c_void};
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;

/// The Qiskit release whose `funcs_py_generated.h` the slot numbers come from.
const MAJOR_MINOR: (u32, u32) = (2, 6);

const SLOT_API_VERSION: usize = 0;
const SLOT_NUM_QUBITS: usize = 13;
const SLOT_NUM_CLBITS: usize = 14;
const SLOT_INSTRUCTION_KIND: usize = 28;
const SLOT_NUM_INSTRUCTIONS: usize = 30;
const SLOT_BORROW_FROM_PYTHON: usize = 41;
const SLOT_VIEW_INSTRUCTION: usize = 94;
const SLOT_PARAM_AS_REAL: usize = 230;
const SLOT_PARAM_STRIDE: usize = 231;
const SLOT_PARAM_KIND: usize = 233;

/// `QkOperationKind` values.
pub const KIND_GATE: u8 = 0;
pub const KIND_BARRIER: u8 = 1;
pub const KIND_DELAY: u8 = 2;
pub const KIND_MEASURE: u8 = 3;
pub const KIND_RESET: u8 = 4;

/// `QkParamKind` values holding a plain number.
const PARAM_REAL: u8 = 1;
const PARAM_INT: u8 = 3;

/// Opaque Qiskit handles.
#[repr(C)]
pub struct QkCircuit {
    _private: [u8; 0],
}
#[repr(C)]
pub struct QkParam {
    _private: [u8; 0],
}

/// `QkCircuitInstructionView`: borrowed from the circuit, valid until it changes.
#[repr(C)]
pub struct InstructionView {
    name: *const c_char,
    qubits: *const u32,
    clbits: *const u32,
    params: *const QkParam,
    name_len: usize,
    num_qubits: u32,
    num_clbits: u32,
    num_params: usize,
}

pub struct Api {
    num_qubits: unsafe extern "C" fn(*const QkCircuit) -> u32,
    num_clbits: unsafe extern "C" fn(*const QkCircuit) -> u32,
    instruction_kind: unsafe extern "C" fn(*const QkCircuit, usize) -> u8,
    num_instructions: unsafe extern "C" fn(*const QkCircuit) -> usize,
    borrow_from_python: unsafe extern "C" fn(*mut ffi::PyObject) -> *mut QkCircuit,
    view_instruction: unsafe extern "C" fn(*const QkCircuit, usize, *mut InstructionView),
    param_as_real: unsafe extern "C" fn(*const QkParam) -> f64,
    param_kind: unsafe extern "C" fn(*const QkParam) -> u8,
    param_stride: usize,
}

// Function pointers into Qiskit's library, which stays loaded for the life of
// the process once imported, so the table is read once.
static API: OnceLock<Option<Api>> = OnceLock::new();

/// The C API when the running Qiskit is one whose table layout we know.
pub fn api(py: Python<'_>) -> Option<&'static Api> {
    API.get_or_init(|| load(py)).as_ref()
}

fn load(py: Python<'_>) -> Option<Api> {
    // A bad value is refused by `qiskit_capi_available` before this runs.
    if !ferroq_core::sim::env::qiskit_capi().unwrap_or(true) {
        return None;
    }
    // The capsule lives in an attribute of `qiskit._accelerate.capi`; importing
    // the parent first is what Qiskit's own `qk_import` does.
    py.import("qiskit._accelerate").ok()?;
    let name: &CStr = c"qiskit._accelerate.capi.QK_FFI_CIRCUIT";
    // SAFETY: attached to the interpreter; a null return sets an exception we clear.
    let table = unsafe { ffi::PyCapsule_Import(name.as_ptr(), 0) } as *const *const c_void;
    if table.is_null() {
        // Older Qiskit without the capsule: the portable path serves it.
        let _ = PyErr::take(py);
        return None;
    }
    // SAFETY: slot 0 is `qk_api_version` in every Qiskit that exports the table.
    let version = unsafe { function::<unsafe extern "C" fn() -> u32>(table, SLOT_API_VERSION)? };
    // SAFETY: a plain call of the function Qiskit put there.
    let version = unsafe { version() };
    if ((version >> 24) & 0xff, (version >> 16) & 0xff) != MAJOR_MINOR {
        return None;
    }
    // SAFETY: the version check above pins the table layout these slots come
    // from, so each slot holds a function of the type it is read as.
    unsafe {
        let param_stride = function::<unsafe extern "C" fn() -> usize>(table, SLOT_PARAM_STRIDE)?;
        Some(Api {
            num_qubits: function(table, SLOT_NUM_QUBITS)?,
            num_clbits: function(table, SLOT_NUM_CLBITS)?,
            instruction_kind: function(table, SLOT_INSTRUCTION_KIND)?,
            num_instructions: function(table, SLOT_NUM_INSTRUCTIONS)?,
            borrow_from_python: function(table, SLOT_BORROW_FROM_PYTHON)?,
            view_instruction: function(table, SLOT_VIEW_INSTRUCTION)?,
            param_as_real: function(table, SLOT_PARAM_AS_REAL)?,
            param_kind: function(table, SLOT_PARAM_KIND)?,
            param_stride: param_stride(),
        })
    }
}

/// Slot `index` of the table as a function pointer of type `F`; None if empty.
///
/// # Safety
/// `table` must have more than `index` slots, and a non-null slot must hold a
/// function whose signature is `F` (a function-pointer type).
unsafe fn function<F: Copy>(table: *const *const c_void, index: usize) -> Option<F> {
    assert_eq!(size_of::<F>(), size_of::<*const c_void>());
    // SAFETY: the caller's promise on the table's length.
    let raw = unsafe { *table.add(index) };
    if raw.is_null() {
        return None;
    }
    // SAFETY: the caller's promise on what the slot holds.
    Some(unsafe { std::mem::transmute_copy::<*const c_void, F>(&raw) })
}

/// One instruction as the converter needs it.
pub struct Instruction<'a> {
    pub kind: u8,
    pub name: &'a str,
    pub qubits: &'a [u32],
    pub clbits: &'a [u32],
    view: InstructionView,
}

/// A `CircuitData` borrowed for reading. Holding the Python reference keeps
/// the native circuit alive, and no Python code runs while it is read, so
/// nothing can change it underneath the views.
pub struct CircuitView<'py> {
    api: &'static Api,
    circuit: *const QkCircuit,
    _owner: &'py Bound<'py, PyAny>,
}

impl<'py> CircuitView<'py> {
    /// `None` (with the Python error cleared) when `data` is not a `CircuitData`.
    pub fn new(api: &'static Api, data: &'py Bound<'py, PyAny>) -> Option<Self> {
        // SAFETY: attached (we hold a Bound), and `data` is a valid object.
        let circuit = unsafe { (api.borrow_from_python)(data.as_ptr()) };
        if circuit.is_null() {
            let _ = PyErr::take(data.py());
            return None;
        }
        Some(CircuitView {
            api,
            circuit,
            _owner: data,
        })
    }

    pub fn num_qubits(&self) -> usize {
        // SAFETY: `circuit` is valid while `_owner` is held.
        unsafe { (self.api.num_qubits)(self.circuit) as usize }
    }

    pub fn num_clbits(&self) -> usize {
        // SAFETY: as above.
        unsafe { (self.api.num_clbits)(self.circuit) as usize }
    }

    pub fn len(&self) -> usize {
        // SAFETY: as above.
        unsafe { (self.api.num_instructions)(self.circuit) }
    }

    /// The instruction at `index`, which must be below `len()`. Its slices
    /// borrow from the circuit, so they must not outlive this view.
    pub fn get(&self, index: usize) -> Option<Instruction<'_>> {
        if index >= self.len() {
            return None;
        }
        let mut view = InstructionView {
            name: std::ptr::null(),
            qubits: std::ptr::null(),
            clbits: std::ptr::null(),
            params: std::ptr::null(),
            name_len: 0,
            num_qubits: 0,
            num_clbits: 0,
            num_params: 0,
        };
        // SAFETY: index is in bounds and `view` is a valid place to write.
        let kind = unsafe {
            (self.api.view_instruction)(self.circuit, index, &mut view);
            (self.api.instruction_kind)(self.circuit, index)
        };
        // SAFETY: Qiskit documents each pointer as valid for its length (a
        // dangling-but-aligned pointer when the length is 0, which we never
        // dereference because from_raw_parts is skipped then).
        let (name, qubits, clbits) = unsafe {
            (
                std::str::from_utf8(slice(view.name as *const u8, view.name_len)).ok()?,
                slice(view.qubits, view.num_qubits as usize),
                slice(view.clbits, view.num_clbits as usize),
            )
        };
        Some(Instruction {
            kind,
            name,
            qubits,
            clbits,
            view,
        })
    }

    /// The instruction's parameters as numbers into `out`; `false` if any is
    /// symbolic or not a plain number, which the Python path then explains.
    pub fn real_params(&self, inst: &Instruction<'_>, out: &mut Vec<f64>) -> bool {
        out.clear();
        for k in 0..inst.view.num_params {
            // SAFETY: params holds num_params entries `param_stride` bytes apart.
            let value = unsafe {
                let p = (inst.view.params as *const u8).add(k * self.api.param_stride)
                    as *const QkParam;
                let kind = (self.api.param_kind)(p);
                if kind != PARAM_REAL && kind != PARAM_INT {
                    return false;
                }
                (self.api.param_as_real)(p)
            };
            out.push(value);
        }
        true
    }
}

/// A slice from a C pointer and length, empty for length 0 whatever the pointer.
///
/// # Safety
/// For a non-zero `len`, `ptr` must be valid for `len` reads for all of `'a`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}
