/*
 * hearthctl clients ...: the OAuth clients of the device login flow (the
 * TV and console apps that may sign devices in), through the admin API.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_int.h"

static void print_client(struct ctl *ctl, const json_t *c, const char *what)
{
	if (ctl->json) {
		ctl_print_json(c);
		return;
	}
	printf("%s client %s (\"%s\", %s): %s.\n", what, ctl_str(c, "client_id"), ctl_str(c, "name"),
	       ctl_str(c, "device_type"), json_is_true(json_object_get(c, "active")) ? "active" : "disabled");
}

/* "device_code,refresh_token" as a JSON array; NULL when a name is empty. */
static json_t *grants_array(const char *list)
{
	json_t *a = json_array();
	const char *p = list;
	while (a && *p) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > 32) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

static const char *const add_valued[] = {"--id", "--name", "--type", "--grants", NULL};

int cmd_clients_add(struct ctl *ctl, int argc, char **argv)
{
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, add_valued, NULL, 0, 0, NULL))
		return ctl_usage_error("clients add", "bad arguments");
	const char *id = ctl_opt(argc, argv, "--id");
	const char *name = ctl_opt(argc, argv, "--name");
	const char *type = ctl_opt(argc, argv, "--type");
	const char *grants = ctl_opt(argc, argv, "--grants");
	if (!id || !name || !type)
		return ctl_usage_error("clients add", "--id, --name and --type are required");
	json_t *body = json_pack("{s:s, s:s, s:s}", "client_id", id, "name", name, "device_type", type);
	if (grants) {
		json_t *a = grants_array(grants);
		if (!a) {
			json_decref(body);
			return ctl_usage_error("clients add", "--grants is a comma-separated list: device_code,refresh_token");
		}
		json_object_set_new(body, "grant_types", a);
	}
	int rc = ctl_api(ctl, "POST", "/admin/v1/clients", body, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK)
		print_client(ctl, out, "Added");
	json_decref(out);
	return rc;
}

static void add_client_row(struct ctl_table *t, const json_t *c)
{
	char grants[64] = "";
	size_t k;
	json_t *g;
	json_array_foreach(json_object_get(c, "grant_types"), k, g)
	{
		size_t used = strlen(grants);
		snprintf(grants + used, sizeof grants - used, "%s%s", used ? "," : "",
			 json_string_value(g) ? json_string_value(g) : "");
	}
	const char *row[6] = {ctl_str(c, "client_id"), ctl_str(c, "name"), ctl_str(c, "device_type"),
			      grants, json_is_true(json_object_get(c, "active")) ? "active" : "disabled",
			      ctl_str(c, "created_at")};
	ctl_table_row(t, row);
}

int cmd_clients_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const titles[] = {"CLIENT ID", "NAME", "TYPE", "GRANTS", "STATE", "CREATED"};
	json_t *all = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 0, 0, NULL))
		return ctl_usage_error("clients list", "bad arguments");
	/* Client lists are short: fetch every page. */
	int rc = ctl_api_get_all(ctl, "/admin/v1/clients", "client_id", &all);
	if (rc == CTL_OK)
		ctl_print_rows(ctl, all, 6, titles, add_client_row);
	json_decref(all);
	return rc;
}

int cmd_clients_disable(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	char q[160], path[200];
	json_t *out = NULL;
	if (!ctl_check_args(argc, argv, NULL, NULL, 1, 1, pos))
		return ctl_usage_error("clients disable", "give the client id");
	char *id = ctl_escape(pos[0]);
	if (!id)
		return CTL_FAILURE;
	snprintf(path, sizeof path, "/admin/v1/clients/%.150s/disable", id);
	free(id);
	snprintf(q, sizeof q, "Disable client %.64s? Its devices can start no new sign-in.", pos[0]);
	int rc = ctl_confirm(ctl, q);
	if (rc != CTL_OK)
		return rc;
	rc = ctl_api(ctl, "POST", path, NULL, CTL_REQ_CHANGE, &out);
	if (rc == CTL_OK)
		print_client(ctl, out, "Disabled");
	json_decref(out);
	return rc;
}
