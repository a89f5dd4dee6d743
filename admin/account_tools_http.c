/*
 * account_tools_http.c - the staff account tools: search, the account page,
 * lock and unlock, sign-out of every device, export and erasure.
 */
#include "admin/admin_int.h"

void admin_accounts_http_register(void) {}
