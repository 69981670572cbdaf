/* Shared between vrrp_config.c and vrrp_config_inst.c only. */
#ifndef STRATA_VRRP_CONFIG_INT_H
#define STRATA_VRRP_CONFIG_INT_H

#include "vrrp_config.h"

/* Copies string `key` (or `def`) into dst[cap]; too long is an error. */
int vcfg_copy(const config_setting_t *group, const char *key, const char *def, char *dst,
	      size_t cap, struct cfg_err *err);

/* The optional `garp { ... }` group of `group`, defaults from `def`. */
int vcfg_garp(const config_setting_t *group, const struct vrrp_garp_cfg *def,
	      struct vrrp_garp_cfg *out, struct cfg_err *err);

/* Index of the instance called `name`, or -1. */
int vcfg_find_inst(const struct vrrp_cfg *cfg, const char *name);

/* The `instances` list (required, at least one). */
int vcfg_instances(const config_setting_t *root, struct vrrp_cfg *cfg,
		   const struct vrrp_garp_cfg *garp, struct cfg_err *err);

#endif
