/* PLACEHOLDER */
int vm_placeholder_(void);
int vm_placeholder_(void) { return 0; }
