from django.contrib import admin
from django.db import models
from django.template.response import TemplateResponse

from inventory.audit import record_admin_action
from inventory.models import Client, Pipeline


def _show_new_keys(request, keys: list[tuple[Client, str]], title: str) -> TemplateResponse:
    """Render the new raw keys on a page of their own: they are never stored or shown again."""
    return TemplateResponse(
        request,
        "admin/inventory/client/new_keys.html",
        {**admin.site.each_context(request), "title": title, "keys": keys},
    )


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "is_active",
        "auto_register_pipelines",
        "key_prefix",
        "key_rotated_at",
    ]
    list_filter = ["is_active", "auto_register_pipelines"]
    search_fields = ["slug", "name"]
    readonly_fields = ["key_prefix", "key_rotated_at", "created_at", "updated_at"]
    actions = ["rotate_keys"]

    @admin.action(
        description="Rotate the ingestion key of the selected clients",
        permissions=["rotate_key"],
    )
    def rotate_keys(self, request, queryset):
        keys = []
        for client in queryset.order_by("slug"):
            keys.append((client, client.rotate_key()))
            record_admin_action(
                self,
                request,
                client,
                f"Rotated the ingestion key (new prefix {client.key_prefix}).",
            )
        return _show_new_keys(request, keys, "New ingestion keys")

    def has_rotate_key_permission(self, request) -> bool:
        return request.user.has_perm("inventory.rotate_client_key")

    def response_add(self, request, obj, post_url_continue=None):
        # A new client gets its first key right away; this page is the only place it appears.
        key = obj.rotate_key()
        record_admin_action(
            self, request, obj, f"Gave the new client its first key (prefix {obj.key_prefix})."
        )
        return _show_new_keys(request, [(obj, key)], f"Client {obj.slug} created")


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["slug", "client", "platform", "owner", "freshness_minutes", "is_active"]
    list_filter = ["platform", "is_active", "client"]
    list_select_related = ["client"]
    search_fields = ["slug", "name", "owner", "client__slug"]
    autocomplete_fields = ["client"]
    readonly_fields = ["created_at", "updated_at"]
    # A documentation link typed without a scheme ("wiki.example.com/orders") is HTTPS.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
