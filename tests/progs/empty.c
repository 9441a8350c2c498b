/* empty: allocates nothing. Under heaptrack it still shows 1 allocation of 72704 B
 * (libstdc++'s emergency exception pool, allocated in heaptrack's own start-up); under
 * alloctrace it shows 0. tests/cli/heaptrack_artifact.sh measures that difference.
 */
int main(void) { return 0; }
