OPENQASM 2.0;
gate g a { g a; }
qreg q[1];
g q[0];
