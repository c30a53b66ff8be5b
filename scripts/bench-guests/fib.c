/* Recursive Fibonacci: calls and returns. */
#include <stdio.h>
static unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(void) { printf("fib(38) = %u\n", fib(38)); return 0; }
