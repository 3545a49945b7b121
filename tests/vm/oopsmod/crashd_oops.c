// SPDX-License-Identifier: GPL-2.0
/*
 * crashd VM test module: two distinct kernel oops sites, chosen at run time.
 *
 *   echo a > /proc/crashd_oops   site A: a read through a NULL pointer in crashd_oops_site_a()
 *   echo b > /proc/crashd_oops   site B: a write through a NULL struct pointer (address 0x40 or
 *                                0x80) in crashd_oops_site_b(), called through crashd_oops_via_b()
 *   echo h > /proc/crashd_oops   site H: the writer sleeps uninterruptibly for ever in
 *                                crashd_oops_hang(): a hung task (kernel.hung_task_panic)
 *
 * With crashd's [panic] on_oops = yes (kernel.panic_on_oops=1) each oops panics and so is
 * captured. Built with debug info (-g) so a record's PC can be mapped to a file and line.
 * Test images only: never load it on a machine you care about.
 */
#include <linux/compiler.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

struct crashd_oops_victim {
	long pad[8];
	long value;
};

/*
 * Never assigned, but not static: the compiler cannot prove it NULL, so each site stays a real
 * memory access at its line (not a trap the compiler inserts for a known NULL dereference).
 */
struct crashd_oops_victim *crashd_oops_victim;

noinline int crashd_oops_site_a(void)
{
	int *p = (int *)READ_ONCE(crashd_oops_victim);

	return READ_ONCE(*p); /* site A */
}

noinline void crashd_oops_site_b(long value)
{
	struct crashd_oops_victim *victim = READ_ONCE(crashd_oops_victim);

	WRITE_ONCE(victim->value, value); /* site B */
}

noinline void crashd_oops_hang(void)
{
	for (;;) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		schedule(); /* site H */
	}
}

noinline void crashd_oops_via_b(long value)
{
	crashd_oops_site_b(value + 1);
	barrier(); /* not a tail call: crashd_oops_via_b stays in the call trace */
}

static ssize_t crashd_oops_write(struct file *file, const char __user *buf, size_t len, loff_t *pos)
{
	char site;

	if (len < 1 || get_user(site, buf))
		return -EFAULT;
	switch (site) {
	case 'a':
		pr_emerg("crashd_oops: site A\n");
		if (crashd_oops_site_a())
			return -EIO;
		return len;
	case 'b':
		pr_emerg("crashd_oops: site B\n");
		crashd_oops_via_b((long)len);
		return len;
	case 'h':
		pr_emerg("crashd_oops: site H\n");
		crashd_oops_hang();
		return len;
	default:
		return -EINVAL;
	}
}

static const struct proc_ops crashd_oops_ops = {
	.proc_write = crashd_oops_write,
};

static int __init crashd_oops_init(void)
{
	if (!proc_create("crashd_oops", 0200, NULL, &crashd_oops_ops))
		return -ENOMEM;
	return 0;
}

static void __exit crashd_oops_exit(void)
{
	remove_proc_entry("crashd_oops", NULL);
}

module_init(crashd_oops_init);
module_exit(crashd_oops_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("crashd VM test: two oops sites behind /proc/crashd_oops");
