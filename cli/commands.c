/*
 * The table of hearthctl commands: one row per command, with its help.
 */
#include "cli/cli_int.h"

const struct ctl_command ctl_commands[] = {
	{"db", "migrate", "Apply pending schema migrations to a database file (on the server host)",
	 "  --db PATH   database file (env HEARTH_DB; default ./hearth.db)\n",
	 "  hearthctl db migrate --db /var/lib/hearth/hearth.db\n", cmd_db_migrate},
	{"db", "status", "Show a database's schema version, pending migrations, size and journal mode",
	 "  --db PATH   database file (env HEARTH_DB; default ./hearth.db)\n"
	 "  --json      machine-readable output\n",
	 "  hearthctl db status\n  hearthctl db status --db /var/lib/hearth/hearth.db --json\n",
	 cmd_db_status},
	{"catalog", "show", "Show the plans and prices sold in a country, or in every country",
	 "  --country XX   one country (ISO 3166-1 alpha-2); default: every country sold in\n"
	 "  --json         the GET /v1/plans documents instead of tables\n",
	 "  hearthctl catalog show --country JP\n  hearthctl catalog show --json\n", cmd_catalog_show},
	{"keys", "list", "List the token signing keys of a key file (on the server host)",
	 "  --key-file PATH   key file (env HEARTH_KEY_FILE; default ./hearth.keys)\n"
	 "  --json            machine-readable output\n",
	 "  hearthctl keys list --key-file /etc/hearth/hearth.keys\n", cmd_keys_list},
	{"keys", "rotate",
	 "Add a new current signing key; the old one keeps verifying (verify_only) until retired",
	 "  --key-file PATH   key file (env HEARTH_KEY_FILE; default ./hearth.keys)\n"
	 "  --json            machine-readable output\n",
	 "  hearthctl keys rotate --key-file /etc/hearth/hearth.keys\n", cmd_keys_rotate},
	{"keys", "retire", "Retire a signing key by its KID: its tokens stop verifying, its secret is erased",
	 "  KID               the key's k4.pid (see 'hearthctl keys list')\n"
	 "  --key-file PATH   key file (env HEARTH_KEY_FILE; default ./hearth.keys)\n"
	 "  --json            machine-readable output\n",
	 "  hearthctl keys retire k4.pid.0A1b... --key-file /etc/hearth/hearth.keys\n",
	 cmd_keys_retire},
	{0},
};
