// Parameterised rotations: qubit 0 reads 1 with probability sin^2(pi/8) ~ 0.146,
// qubit 1 with probability 1/2, qubit 2 always.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
ry(pi/4) q[0];
u3(pi/2, 0, pi) q[1];
rx(pi) q[2];
measure q -> c;
