/*
 * cli_int.h - the command functions of hearthctl, one per table row.
 */
#ifndef HEARTH_CLI_INT_H
#define HEARTH_CLI_INT_H

#include <stdlib.h>

#include "cli/ctl.h"

int cmd_db_migrate(struct ctl *ctl, int argc, char **argv);
int cmd_db_status(struct ctl *ctl, int argc, char **argv);
int cmd_catalog_show(struct ctl *ctl, int argc, char **argv);
int cmd_keys_list(struct ctl *ctl, int argc, char **argv);
int cmd_keys_rotate(struct ctl *ctl, int argc, char **argv);
int cmd_keys_retire(struct ctl *ctl, int argc, char **argv);

#endif
