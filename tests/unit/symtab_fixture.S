/* Symbol-table shapes dwfl_module_addrinfo has rules for (tests/unit/symtab.c compares
 * the index with it at every address of this object). Never executed. */
	.text
	.p2align 6
/* aliases: a global, a weak and a local one at the same address and size */
	.globl	alias_global
	.type	alias_global, @function
	.weak	alias_weak
	.type	alias_weak, @function
	.type	alias_local, @function
alias_local:
alias_weak:
alias_global:
	.skip	64
	.size	alias_global, 64
	.size	alias_weak, 64
	.size	alias_local, 64
/* same start, different sizes and bindings */
	.globl	same_long
	.type	same_long, @function
	.weak	same_short
	.type	same_short, @function
same_short:
same_long:
	.skip	96
	.size	same_long, 96
	.size	same_short, 32
/* nesting: a global inside a local, a local inside a global */
	.type	outer_local, @function
outer_local:
	.skip	32
	.globl	inner_global
	.type	inner_global, @function
inner_global:
	.skip	16
	.size	inner_global, 16
	.skip	48
	.size	outer_local, 96
	.globl	outer_global
	.type	outer_global, @function
outer_global:
	.skip	16
	.type	inner_local, @function
inner_local:
	.skip	16
	.size	inner_local, 16
	.skip	32
	.size	outer_global, 64
/* overlap: a weak starting inside a global and ending past it */
	.globl	over_a
	.type	over_a, @function
over_a:
	.skip	40
	.weak	over_b
	.type	over_b, @function
over_b:
	.skip	40
	.size	over_a, 80
	.skip	40
	.size	over_b, 80
/* assembly labels: sizeless, global and local, some at one address */
	.globl	label_g
label_g:
	.skip	24
label_l:
	.skip	8
	.globl	label_g2
label_l2:
label_g2:
	.skip	24
/* a sizeless label inside a sized local, and one just past its end */
	.type	sized_local, @function
sized_local:
	.skip	8
label_inside:
	.skip	24
	.size	sized_local, 32
label_after:
	.skip	16
/* a global label inside a sized local: at the label the locals are not scanned */
	.type	covers_label, @function
covers_label:
	.skip	8
	.globl	label_in_local
label_in_local:
	.skip	24
	.size	covers_label, 32
/* a sized local followed by a gap */
	.type	gap_before, @function
gap_before:
	.skip	16
	.size	gap_before, 16
	.skip	48
	.globl	zero_global
	.type	zero_global, @function
zero_global:
	.skip	16
	.size	zero_global, 0
	.globl	absolute
	.set	absolute, 0x40
	.section .tdata,"awT",@progbits
	.globl	tls_var
	.type	tls_var, @object
tls_var:
	.long	1
	.size	tls_var, 4
	.data
	.p2align 4
data_label:
	.quad	0
	.globl	data_obj
	.type	data_obj, @object
data_obj:
	.quad	1, 2
	.size	data_obj, 16
	.section .note.GNU-stack,"",@progbits
