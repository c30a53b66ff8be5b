/* Five bodies under gravity, 5M steps of a symplectic Euler integrator. */
#include <math.h>
#include <stdio.h>
#define BODIES 5
typedef struct { double x, y, z, vx, vy, vz, m; } Body;
int main(void) {
    const double pi = 3.141592653589793, days = 365.24, sm = 4 * pi * pi;
    Body b[BODIES] = {
        {0, 0, 0, 0, 0, 0, sm},
        {4.84, -1.16, -0.10, 1.66e-3 * days, 7.70e-3 * days, -6.9e-5 * days, 9.55e-4 * sm},
        {8.34, 4.12, -0.40, -2.77e-3 * days, 5.00e-3 * days, 2.3e-5 * days, 2.86e-4 * sm},
        {12.89, -15.11, -0.22, 2.96e-3 * days, 2.37e-3 * days, -2.96e-5 * days, 4.37e-5 * sm},
        {15.38, -25.92, 0.18, 2.68e-3 * days, 1.63e-3 * days, -9.5e-5 * days, 5.15e-5 * sm},
    };
    const double dt = 0.01;
    for (int step = 0; step < 5000000; step++) {
        for (int i = 0; i < BODIES; i++)
            for (int j = i + 1; j < BODIES; j++) {
                double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
                double d2 = dx * dx + dy * dy + dz * dz, mag = dt / (d2 * sqrt(d2));
                b[i].vx -= dx * b[j].m * mag; b[i].vy -= dy * b[j].m * mag; b[i].vz -= dz * b[j].m * mag;
                b[j].vx += dx * b[i].m * mag; b[j].vy += dy * b[i].m * mag; b[j].vz += dz * b[i].m * mag;
            }
        for (int i = 0; i < BODIES; i++) { b[i].x += dt * b[i].vx; b[i].y += dt * b[i].vy; b[i].z += dt * b[i].vz; }
    }
    printf("nbody x0 %.6f\n", b[1].x);
    return 0;
}
