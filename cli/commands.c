/*
 * The table of hearthctl commands: one row per command, with its help.
 * Rows: group, name ("" for a one-word command), summary, options, examples,
 * function, positional arguments.
 */
#include "cli/cli_int.h"

#define REASON_OPT "  --reason TEXT      why (kept in the audit log; asked for on a terminal)\n"
#define YES_OPT "  --yes              do not ask for confirmation\n"
#define JSON_OPT "  --json             the API's JSON instead of text\n"

const struct ctl_command ctl_commands[] = {
	{"db", "migrate", "Apply pending schema migrations to a database file (on the server host)",
	 "  --db PATH   database file (env HEARTH_DB; default ./hearth.db)\n",
	 "  hearthctl db migrate --db /var/lib/hearth/hearth.db\n", cmd_db_migrate, NULL},
	{"db", "status", "Show a database's schema version, pending migrations, size and journal mode",
	 "  --db PATH   database file (env HEARTH_DB; default ./hearth.db)\n"
	 "  --json      machine-readable output\n",
	 "  hearthctl db status\n  hearthctl db status --db /var/lib/hearth/hearth.db --json\n",
	 cmd_db_status, NULL},

	{"login", "", "Sign in as staff and save the login (8 hours) for the next commands",
	 "  --email EMAIL      your staff email (asked for on a terminal)\n"
	 "  --password-stdin   read the password from the first line of stdin (else asked, not echoed)\n"
	 "  --token-stdin      save a staff token read from stdin instead of signing in\n",
	 "  hearthctl login\n"
	 "  hearthctl --url https://hearth.example.com login --email ana@hearth.example\n"
	 "  pass show hearth/ana | hearthctl login --email ana@hearth.example --password-stdin\n"
	 "  echo \"$TOKEN\" | hearthctl login --token-stdin\n",
	 cmd_login, NULL},
	{"logout", "", "End the saved login on the server and remove it", "",
	 "  hearthctl logout\n", cmd_logout, NULL},
	{"whoami", "", "Show who the saved login (or --token) signs you in as, and your role", JSON_OPT,
	 "  hearthctl whoami\n  hearthctl whoami --json | jq -r .role\n", cmd_whoami, NULL},

	{"staff", "create",
	 "Create the first admin directly on the database file (server host; only when no admin exists)",
	 "  --email EMAIL      the admin's email (required)\n"
	 "  --role admin       the role (required; only admin: add others with 'staff add')\n"
	 "  --db PATH          database file (required)\n"
	 "  --name NAME        display name\n"
	 "  --password-stdin   read the password from the first line of stdin (else asked twice)\n"
	 "  --force            create one even though an active admin exists (needs --reason; audited)\n",
	 "  hearthctl staff create --email root@hearth.example --role admin --db /var/lib/hearth/hearth.db\n"
	 "  hearthctl staff create --email ops@hearth.example --role admin --db ./hearth.db --force \\\n"
	 "      --reason \"every admin left the company\"\n",
	 cmd_staff_create, NULL},
	{"staff", "add", "Add a staff member (admin role)",
	 "  --email EMAIL      their email (required)\n"
	 "  --role ROLE        agent, supervisor or admin (required)\n"
	 "  --name NAME        display name\n"
	 "  --password-stdin   read their first password from stdin (else asked twice)\n" REASON_OPT JSON_OPT,
	 "  hearthctl staff add --email bo@hearth.example --role agent --name \"Bo\" --reason \"new hire, ticket HR-12\"\n",
	 cmd_staff_add, NULL},
	{"staff", "list", "List staff members (admin role)", JSON_OPT,
	 "  hearthctl staff list\n  hearthctl staff list --json | jq -r '.data[].email'\n", cmd_staff_list,
	 NULL},
	{"staff", "disable", "Disable a staff member and end their sign-ins (admin role)",
	 REASON_OPT YES_OPT JSON_OPT,
	 "  hearthctl staff disable stf_0123456789abcdefghjkmnpqrs --reason \"left the company\"\n",
	 cmd_staff_disable, "ID"},
	{"staff", "set-role", "Change a staff member's role (admin role)", REASON_OPT JSON_OPT,
	 "  hearthctl staff set-role stf_0123456789abcdefghjkmnpqrs supervisor --reason \"promoted\"\n",
	 cmd_staff_set_role, "ID ROLE"},

	{"accounts", "search", "Find members by email, account id, phone, device id or invoice number",
	 JSON_OPT,
	 "  hearthctl accounts search ana@example.com\n  hearthctl accounts search +14155550100\n"
	 "  hearthctl accounts search dev_0123456789abcdefghjkmnpqrs\n",
	 cmd_accounts_search, "QUERY"},
	{"accounts", "show",
	 "The whole account: profiles, sign-ins and devices, subscription, invoices, household, staff actions",
	 JSON_OPT, "  hearthctl accounts show acc_0123456789abcdefghjkmnpqrs\n", cmd_accounts_show, "ID"},
	{"accounts", "lock", "Lock an account: no sign-in, every device signed out (supervisor role)",
	 REASON_OPT YES_OPT JSON_OPT,
	 "  hearthctl accounts lock acc_0123456789abcdefghjkmnpqrs --reason \"card testing, ticket 4411\"\n",
	 cmd_accounts_lock, "ID"},
	{"accounts", "unlock", "Unlock a locked account", REASON_OPT JSON_OPT,
	 "  hearthctl accounts unlock acc_0123456789abcdefghjkmnpqrs --reason \"identity confirmed on call\"\n",
	 cmd_accounts_unlock, "ID"},
	{"accounts", "sign-out-all", "Sign every device of an account out", REASON_OPT YES_OPT JSON_OPT,
	 "  hearthctl accounts sign-out-all acc_0123456789abcdefghjkmnpqrs --reason \"lost phone\"\n",
	 cmd_accounts_sign_out_all, "ID"},
	{"accounts", "export", "Every piece of personal data Hearth holds about a member, as one JSON document",
	 "  --output FILE      write to FILE (created with mode 0600; never overwritten) instead of stdout\n"
	 "  --reason TEXT      why (optional here; kept in the audit log with the export)\n",
	 "  hearthctl accounts export acc_0123456789abcdefghjkmnpqrs --output ana-export.json \\\n"
	 "      --reason \"access request, ticket 5120\"\n",
	 cmd_accounts_export, "ID"},
	{"accounts", "erase",
	 "Erase a member's personal data (anonymize what law keeps, revoke every sign-in; supervisor role)",
	 REASON_OPT YES_OPT JSON_OPT,
	 "  hearthctl accounts erase acc_0123456789abcdefghjkmnpqrs --reason \"erasure request, ticket 5120\"\n",
	 cmd_accounts_erase, "ID"},

	{"clients", "add", "Register an OAuth client for the device login flow (admin role)",
	 "  --id CLIENT_ID     the client_id devices send (a-z, 0-9, '.', '_', '-'; required)\n"
	 "  --name NAME        the app's name, shown to members when they approve (required)\n"
	 "  --type TYPE        the device type its sign-ins get: tv, console, phone, tablet, web (required)\n"
	 "  --grants LIST      device_code[,refresh_token] (default both)\n" REASON_OPT JSON_OPT,
	 "  hearthctl clients add --id acme-tv --name \"Acme TV\" --type tv --reason \"partner launch, ticket P-7\"\n",
	 cmd_clients_add, NULL},
	{"clients", "list", "List the OAuth clients of the device login flow", JSON_OPT,
	 "  hearthctl clients list\n  hearthctl clients list --json | jq -r '.data[] | select(.active) | .client_id'\n",
	 cmd_clients_list, NULL},
	{"clients", "disable",
	 "Disable an OAuth client: no new device sign-ins or code exchanges (admin role)",
	 REASON_OPT YES_OPT JSON_OPT,
	 "  hearthctl clients disable acme-tv --reason \"client id leaked, ticket SEC-3\"\n",
	 cmd_clients_disable, "ID"},
	{"households", "show",
	 "A member's household: networks, devices with trust and last-seen, recent playback decisions"
	 " with reasons, the sharing assessment",
	 JSON_OPT, "  hearthctl households show acc_0123456789abcdefghjkmnpqrs\n", cmd_households_show, "ACCOUNT"},
	{"households", "reset",
	 "Forget a member's household (after a move past the limit); the next TV at home proposes a new one",
	 REASON_OPT YES_OPT JSON_OPT,
	 "  hearthctl households reset acc_0123456789abcdefghjkmnpqrs --reason \"moved house, ticket 812\"\n",
	 cmd_households_reset, "ACCOUNT"},
	{"households", "grant-travel", "Give one device travel access for N days (not counted in its limit)",
	 "  --days N           1 to 90 (required)\n" REASON_OPT JSON_OPT,
	 "  hearthctl households grant-travel dev_0123456789abcdefghjkmnpqrs --days 14 \\\n"
	 "      --reason \"abroad for work, ticket 913\"\n",
	 cmd_households_grant_travel, "DEVICE"},

	{"notifications", "list", "Emails and texts sent to an address, newest first",
	 "  --to ADDRESS       the email address or phone number (required)\n"
	 "  --limit N          at most N (1-100; default 20)\n" JSON_OPT,
	 "  hearthctl notifications list --to ana@example.com\n", cmd_notifications_list, NULL},
	{"notifications", "resend", "Send a notification again (a new copy is queued)", REASON_OPT JSON_OPT,
	 "  hearthctl notifications resend ntf_0123456789abcdefghjkmnpqrs --reason \"member found no email\"\n",
	 cmd_notifications_resend, "ID"},

	{"audit", "", "Staff actions: who changed what, when and why (newest first)",
	 "  --target ID        only actions on this account, staff member, notification...\n"
	 "  --staff ID         only actions by this staff member\n"
	 "  --since TIME       only since TIME (RFC 3339) or an age (30m, 24h, 7d)\n"
	 "  --limit N          at most N rows (1-100; default 50)\n" JSON_OPT,
	 "  hearthctl audit --target acc_0123456789abcdefghjkmnpqrs\n"
	 "  hearthctl audit --staff stf_0123456789abcdefghjkmnpqrs --since 24h\n",
	 cmd_audit, NULL},
	{"events", "tail", "The change feed: events in order, from a position, optionally following",
	 "  --after N          events after id N (default 0: from the start)\n"
	 "  --type TYPE        only this type (account.created) or prefix (account.*)\n"
	 "  --limit N          events per request (1-1000; default 100)\n"
	 "  --follow           keep polling for new events until interrupted\n"
	 "  --interval S       seconds between polls with --follow (default 2)\n"
	 "  --json             one JSON object per line\n",
	 "  hearthctl events tail --after 1200\n  hearthctl events tail --type 'session.*' --follow\n"
	 "  hearthctl events tail --json | jq -c 'select(.subject == \"acc_...\")'\n",
	 cmd_events_tail, NULL},
	{"catalog", "show", "Show the plans and prices sold in a country, or in every country",
	 "  --country XX   one country (ISO 3166-1 alpha-2); default: every country sold in\n"
	 "  --json         the GET /v1/plans documents instead of tables\n",
	 "  hearthctl catalog show --country JP\n  hearthctl catalog show --json\n", cmd_catalog_show, NULL},
	{"catalog", "import", "Import a catalog file as the next catalog version (admin role)",
	 REASON_OPT JSON_OPT,
	 "  hearthctl catalog import data/catalog.json --reason \"2027 prices, ticket FIN-88\"\n",
	 cmd_catalog_import, "FILE"},
	{"billing", "run",
	 "Run billing now: renew what is due, retry past-due charges, end what expired (admin role)",
	 "  --until TIME       renew what fell due up to TIME (RFC 3339; default: now)\n" REASON_OPT
	 "  --json             the finished run's JSON instead of progress and a summary\n",
	 "  hearthctl billing run --reason \"scheduler was down this morning\"\n"
	 "  hearthctl billing run --until 2027-03-01T00:00:00Z --json --reason \"month-end\"\n",
	 cmd_billing_run, NULL},
	{"billing", "runs",
	 "List the 20 most recent billing runs, newest first: status (queued, running, succeeded, failed,"
	 " interrupted: its process died), figures, error (agent role)",
	 JSON_OPT,
	 "  hearthctl billing runs\n"
	 "  hearthctl billing runs --json | jq -r '.data[] | select(.status == \"interrupted\") | .id'\n",
	 cmd_billing_runs, NULL},
	{"prices", "schedule",
	 "Schedule a price change of a plan in a country; subscribers are told now (admin role)",
	 "  --plan CODE              the plan (required)\n"
	 "  --country XX             the country (required)\n"
	 "  --amount N               the new price in the country's currency: 19.99, 1690, 2.750 (required)\n"
	 "  --effective TIME         when new subscribers start paying it (RFC 3339; required)\n"
	 "  --notice-days N          existing subscribers pay it from the first renewal N days after being told\n"
	 "                           (default 30)\n"
	 "  --grandfather-months N   existing subscribers keep their price N months after TIME (default 0)\n"
	 REASON_OPT JSON_OPT,
	 "  hearthctl prices schedule --plan standard --country US --amount 19.99 \\\n"
	 "      --effective 2027-03-01T00:00:00Z --reason \"2027 price review\"\n",
	 cmd_prices_schedule, NULL},
	{"refunds", "create",
	 "Refund a paid invoice, all that is left or --amount, as a credit note (supervisor up to a limit)",
	 "  --amount N         how much, in the invoice's currency (default: everything left)\n" REASON_OPT
		 JSON_OPT,
	 "  hearthctl refunds create inv_0123456789abcdefghjkmnpqrs --amount 5.00 --reason \"outage credit\"\n",
	 cmd_refunds_create, "INVOICE"},
	{"credits", "grant", "Grant account credit; it pays the next invoices first (supervisor up to a limit)",
	 "  --amount N         how much (required)\n"
	 "  --currency CUR     in which currency (required; only invoices in it use it)\n" REASON_OPT JSON_OPT,
	 "  hearthctl credits grant acc_0123456789abcdefghjkmnpqrs --amount 5.00 --currency USD \\\n"
	 "      --reason \"goodwill, ticket 7781\"\n",
	 cmd_credits_grant, "ACCOUNT"},
	{"keys", "list", "List the token signing keys of a key file (on the server host)",
	 "  --key-file PATH   key file (env HEARTH_KEY_FILE; default ./hearth.keys)\n"
	 "  --json            machine-readable output\n",
	 "  hearthctl keys list --key-file /etc/hearth/hearth.keys\n", cmd_keys_list, NULL},
	{"keys", "rotate",
	 "Add a new current signing key; the old one keeps verifying (verify_only) until retired",
	 "  --key-file PATH   key file (env HEARTH_KEY_FILE; default ./hearth.keys)\n"
	 "  --json            machine-readable output\n",
	 "  hearthctl keys rotate --key-file /etc/hearth/hearth.keys\n", cmd_keys_rotate, NULL},
	{"keys", "retire", "Retire a signing key by its KID: its tokens stop verifying, its secret is erased",
	 "  KID               the key's k4.pid (see 'hearthctl keys list')\n"
	 "  --key-file PATH   key file (env HEARTH_KEY_FILE; default ./hearth.keys)\n"
	 "  --json            machine-readable output\n",
	 "  hearthctl keys retire k4.pid.0A1b... --key-file /etc/hearth/hearth.keys\n",
	 cmd_keys_retire, NULL},
	{0},
};
