/*
 * cli_int.h - the command functions of hearthctl, one per table row, and
 * the helpers the command files share.
 */
#ifndef HEARTH_CLI_INT_H
#define HEARTH_CLI_INT_H

#include <stdlib.h>

#include "cli/ctl.h"
#include "core/db.h"

/* --db PATH, else HEARTH_DB, else ./hearth.db. */
const char *cli_db_path(int argc, char **argv);

/* Open the database file `path` (refusing a missing one when `must_exist`).
 * Returns CTL_OK, or prints the problem and returns its exit code. */
int cli_open_db(const char *path, bool must_exist, struct db **out);

int cmd_db_migrate(struct ctl *ctl, int argc, char **argv);
int cmd_db_status(struct ctl *ctl, int argc, char **argv);
int cmd_catalog_show(struct ctl *ctl, int argc, char **argv);
int cmd_catalog_import(struct ctl *ctl, int argc, char **argv);
int cmd_billing_run(struct ctl *ctl, int argc, char **argv);
int cmd_billing_runs(struct ctl *ctl, int argc, char **argv);
int cmd_prices_schedule(struct ctl *ctl, int argc, char **argv);
int cmd_refunds_create(struct ctl *ctl, int argc, char **argv);
int cmd_credits_grant(struct ctl *ctl, int argc, char **argv);
int cmd_keys_list(struct ctl *ctl, int argc, char **argv);
int cmd_keys_rotate(struct ctl *ctl, int argc, char **argv);
int cmd_keys_retire(struct ctl *ctl, int argc, char **argv);

int cmd_login(struct ctl *ctl, int argc, char **argv);
int cmd_logout(struct ctl *ctl, int argc, char **argv);
int cmd_whoami(struct ctl *ctl, int argc, char **argv);

int cmd_staff_create(struct ctl *ctl, int argc, char **argv);
int cmd_staff_add(struct ctl *ctl, int argc, char **argv);
int cmd_staff_list(struct ctl *ctl, int argc, char **argv);
int cmd_staff_disable(struct ctl *ctl, int argc, char **argv);
int cmd_staff_set_role(struct ctl *ctl, int argc, char **argv);

int cmd_accounts_search(struct ctl *ctl, int argc, char **argv);
int cmd_accounts_show(struct ctl *ctl, int argc, char **argv);
int cmd_accounts_lock(struct ctl *ctl, int argc, char **argv);
int cmd_accounts_unlock(struct ctl *ctl, int argc, char **argv);
int cmd_accounts_sign_out_all(struct ctl *ctl, int argc, char **argv);
int cmd_accounts_export(struct ctl *ctl, int argc, char **argv);
int cmd_accounts_erase(struct ctl *ctl, int argc, char **argv);

int cmd_clients_add(struct ctl *ctl, int argc, char **argv);
int cmd_clients_list(struct ctl *ctl, int argc, char **argv);
int cmd_clients_disable(struct ctl *ctl, int argc, char **argv);
int cmd_households_show(struct ctl *ctl, int argc, char **argv);
int cmd_households_reset(struct ctl *ctl, int argc, char **argv);
int cmd_households_grant_travel(struct ctl *ctl, int argc, char **argv);

int cmd_notifications_list(struct ctl *ctl, int argc, char **argv);
int cmd_notifications_resend(struct ctl *ctl, int argc, char **argv);
int cmd_audit(struct ctl *ctl, int argc, char **argv);
int cmd_events_tail(struct ctl *ctl, int argc, char **argv);

#endif
