//! Parameter sweeps: one circuit converted once, with some gate parameters
//! marked as slots, and many copies of it with those slots filled. A front end
//! (Qiskit's primitives) evaluates each slot's expression for every parameter
//! set and hands the values over in one array, instead of binding and
//! converting the whole circuit once per set.

use super::{Circuit, Instruction, check_params};
use crate::error::{Error, Result};

/// A gate parameter to fill: `(instruction index, parameter index)`, the
/// index among the circuit's top-level instructions.
pub type Slot = (usize, usize);

impl Circuit {
    /// Checks that every slot names a parameter of a top-level gate.
    fn check_slots(&self, slots: &[Slot]) -> Result<()> {
        for &(at, k) in slots {
            let ok = matches!(
                self.instructions.get(at),
                Some(Instruction::Gate { params, .. }) if k < params.len()
            );
            if !ok {
                return Err(Error::InvalidCircuit(format!(
                    "parameter slot ({at}, {k}): instruction {at} is not a gate with a parameter {k} \
                     (the circuit has {} instructions)",
                    self.instructions.len()
                )));
            }
        }
        Ok(())
    }

    /// One copy of the circuit per row of `values` (row-major, `slots.len()`
    /// values a row), slot `j` of each set to the row's value `j`. Every value
    /// is checked as a parameter given to the gate by hand (finite), so no
    /// copy is half-made; a zero-width row list gives no copies.
    pub fn with_params(&self, slots: &[Slot], values: &[f64]) -> Result<Vec<Circuit>> {
        self.check_slots(slots)?;
        if slots.is_empty() {
            if !values.is_empty() {
                return Err(Error::InvalidCircuit(format!(
                    "{} parameter values for no parameter slot",
                    values.len()
                )));
            }
            return Ok(Vec::new());
        }
        if !values.len().is_multiple_of(slots.len()) {
            return Err(Error::InvalidCircuit(format!(
                "{} parameter values do not make rows of {} slots",
                values.len(),
                slots.len()
            )));
        }
        values
            .chunks_exact(slots.len())
            .map(|row| {
                let mut copy = self.clone();
                for (&(at, k), &value) in slots.iter().zip(row) {
                    if let Instruction::Gate { kind, params, .. } = &mut copy.instructions[at] {
                        params[k] = value;
                        check_params(kind.name(), params)?;
                    }
                }
                Ok(copy)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Circuit {
        let mut c = Circuit::new(2, 0);
        c.append_gate("rx", &[0], &[0.0]).unwrap();
        c.append_gate("cx", &[0, 1], &[]).unwrap();
        c.append_gate("u", &[1], &[0.5, 0.0, 0.0]).unwrap();
        c
    }

    #[test]
    fn each_row_fills_the_slots_of_its_copy() {
        let c = template();
        let copies = c
            .with_params(&[(0, 0), (2, 1)], &[1.0, 2.0, 3.0, 4.0])
            .unwrap();
        assert_eq!(copies.len(), 2);
        for (copy, (a, b)) in copies.iter().zip([(1.0, 2.0), (3.0, 4.0)]) {
            let mut expected = Circuit::new(2, 0);
            expected.append_gate("rx", &[0], &[a]).unwrap();
            expected.append_gate("cx", &[0, 1], &[]).unwrap();
            expected.append_gate("u", &[1], &[0.5, b, 0.0]).unwrap();
            assert_eq!(copy, &expected);
        }
        assert_eq!(c, template(), "the template is unchanged");
    }

    #[test]
    fn bad_slots_and_values_are_refused() {
        let c = template();
        for slots in [vec![(1, 0)], vec![(0, 1)], vec![(3, 0)]] {
            assert!(matches!(
                c.with_params(&slots, &[1.0]),
                Err(Error::InvalidCircuit(_))
            ));
        }
        assert!(matches!(
            c.with_params(&[(0, 0), (2, 0)], &[1.0, 2.0, 3.0]),
            Err(Error::InvalidCircuit(_))
        ));
        assert!(matches!(
            c.with_params(&[(0, 0)], &[1.0, f64::NAN]),
            Err(Error::NonFiniteParam { index: 0, .. })
        ));
        assert!(c.with_params(&[], &[]).unwrap().is_empty());
    }
}
