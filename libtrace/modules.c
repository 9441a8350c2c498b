/* Module registry: which objects are mapped where (path, load bias, address range,
 * GNU build-id), rescanned with dl_iterate_phdr at start and after dlopen/dlclose.
 * Each change bumps a generation that ring events carry, so the writer emits MOD/UNMOD
 * records in event order. Never allocates: the registry is a fixed array in the shared
 * region (shm.h), appended to only: an entry is complete before nmods counts it.
 * Its lock is taken only in start-up, dlopen and dlclose (none of which a signal handler
 * may call), is held across no system call of the probe's (dl_iterate_phdr takes the
 * loader's own lock), and is cleared in a fork child before its first use.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

#define MAX_MODULES ATR_MAX_MODULES

static atr_module_t *mods;
static uint32_t nmods; /* this side's count; published in the header */
static uint32_t generation;
static atomic_flag lock = ATOMIC_FLAG_INIT;
static unsigned char seen[MAX_MODULES]; /* per scan: module still mapped */

static void lock_acquire(void) {
  while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
    sched_yield();
}

static void lock_release(void) {
  atomic_flag_clear_explicit(&lock, memory_order_release);
}

static void read_build_id(const struct dl_phdr_info *info, atr_module_t *m) {
  m->build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE)
      continue;
    const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    const unsigned char *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
      const unsigned char *name = p + sizeof(*nh);
      const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
      const unsigned char *next = desc + ((nh->n_descsz + 3) & ~3u);
      if (next > end)
        break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          nh->n_descsz <= sizeof(m->build_id)) {
        memcpy(m->build_id, desc, nh->n_descsz);
        m->build_id_len = nh->n_descsz;
        return;
      }
      p = next;
    }
  }
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uint32_t *changed = arg;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD)
      continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo)
      lo = a;
    if (a + ph->p_memsz > hi)
      hi = a + ph->p_memsz;
  }
  if (hi == 0)
    return 0;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  for (uint32_t i = 0; i < nmods; i++) {
    atr_module_t *m = &mods[i];
    if (!m->unload_gen && m->bias == info->dlpi_addr && m->lo == lo && m->hi == hi &&
        strncmp(m->path, name, sizeof(m->path) - 1) == 0) {
      seen[i] = 1;
      return 0;
    }
  }
  if (nmods >= MAX_MODULES)
    return 0;
  atr_module_t *m = &mods[nmods];
  memset(m, 0, sizeof(*m));
  m->bias = info->dlpi_addr;
  m->lo = lo;
  m->hi = hi;
  strncpy(m->path, name, sizeof(m->path) - 1);
  read_build_id(info, m);
  m->load_gen = generation + 1;
  seen[nmods] = 1;
  nmods++;
  *changed = 1;
  return 0;
}

uint32_t atr__modules_scan(void) {
  lock_acquire();
  if (!atr__shm) {
    lock_release();
    return 0;
  }
  mods = atr_shm_mods(atr__shm);
  nmods = atomic_load(&atr__shmh->nmods); /* a fork child's copy of its parent's */
  memset(seen, 0, nmods);
  uint32_t changed = 0;
  dl_iterate_phdr(scan_one, &changed);
  for (uint32_t i = 0; i < nmods; i++) {
    if (!seen[i] && !mods[i].unload_gen) {
      mods[i].unload_gen = generation + 1;
      changed = 1;
    }
  }
  atomic_store_explicit(&atr__shmh->nmods, nmods, memory_order_release);
  if (changed)
    generation++;
  uint32_t g = generation;
  lock_release();
  return g;
}

/* Writer: a consistent view; entries never move and are only appended. */
atr_module_t *atr__modules(uint32_t *count) {
  lock_acquire();
  *count = nmods;
  lock_release();
  return mods;
}

uint32_t atr__modules_generation(void) {
  lock_acquire();
  uint32_t g = generation;
  lock_release();
  return g;
}

/* Fork child: a thread of the parent may have held the lock at the fork. */
void atr__modules_after_fork(void) {
  atomic_flag_clear(&lock);
}
