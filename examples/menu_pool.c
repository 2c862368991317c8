/* menu_pool.c -- the seed's game menu: at most 256 entries, statically
 * allocated, in a warden pool.
 *
 * A menu is a tree of entries (a title screen, its submenus, their
 * options).  Every entry comes from one static pool of 256, defined with
 * WD_POOL_STATIC: no init call, no heap, O(1) to add or remove an entry,
 * and a hard limit the game designer can rely on.  The example builds the
 * menus, fills the pool to its limit (the 257th entry is refused with
 * ENOMEM), closes a submenu to make room, and prints the result.  Exits 1
 * if the pool does not behave so. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <warden/pool.h>

#define MENU_MAX 256

struct menu_item {
    char label[24];
    int action;               /* what selecting it does; 0 for a submenu */
    struct menu_item *parent;
    struct menu_item *first;  /* children, in order */
    struct menu_item *next;   /* next sibling */
};

WD_POOL_STATIC(menu, struct menu_item, MENU_MAX);

/* A new entry at the end of parent's children (parent NULL: a root), or
 * NULL with errno == ENOMEM when the menu has MENU_MAX entries. */
static struct menu_item *menu_add(struct menu_item *parent, const char *label, int action) {
    struct menu_item *it = wd_pool_alloc(&menu);
    if (it == NULL)
        return NULL;
    memset(it, 0, sizeof *it);
    snprintf(it->label, sizeof it->label, "%s", label);
    it->action = action;
    it->parent = parent;
    if (parent != NULL) {
        struct menu_item **link = &parent->first;
        while (*link != NULL)
            link = &(*link)->next;
        *link = it;
    }
    return it;
}

/* Removes it and everything under it; gives the entries back to the pool. */
static void menu_remove(struct menu_item *it) {
    while (it->first != NULL) {
        struct menu_item *child = it->first;
        it->first = child->next;
        child->parent = NULL; /* detached: the recursion need not unlink it */
        menu_remove(child);
    }
    if (it->parent != NULL) {
        struct menu_item **link = &it->parent->first;
        while (*link != it)
            link = &(*link)->next;
        *link = it->next;
    }
    wd_pool_free(&menu, it);
}

static void menu_print(const struct menu_item *it, int depth, int max_children) {
    printf("%*s%s%s\n", depth * 2, "", it->label, it->first ? ":" : "");
    int shown = 0;
    for (const struct menu_item *c = it->first; c != NULL; c = c->next, shown++) {
        if (shown == max_children) {
            printf("%*s...\n", (depth + 1) * 2, "");
            break;
        }
        menu_print(c, depth + 1, max_children);
    }
}

int main(void) {
    printf("menu pool: %zu entries of %zu bytes, %zu bytes of static storage\n",
           wd_pool_capacity(&menu), sizeof(struct menu_item), sizeof menu_wd_storage);
    struct menu_item *title = menu_add(NULL, "Title", 0);
    struct menu_item *play = menu_add(title, "Play", 0);
    struct menu_item *options = menu_add(title, "Options", 0);
    struct menu_item *levels = menu_add(title, "Level select", 0);
    if (!title || !play || !options || !levels)
        return 1;
    menu_add(play, "Continue", 1);
    menu_add(play, "New game", 2);
    menu_add(options, "Music volume", 10);
    menu_add(options, "Effects volume", 11);
    menu_add(options, "Controls", 12);

    /* one entry per level until the pool says no */
    int added = 0;
    char label[24];
    for (;;) {
        snprintf(label, sizeof label, "Level %d", added + 1);
        if (menu_add(levels, label, 100 + added) == NULL)
            break;
        added++;
    }
    printf("added %d levels; the next entry was refused: %s\n", added, strerror(errno));
    if (errno != ENOMEM || wd_pool_count(&menu) != MENU_MAX || added != MENU_MAX - 9)
        return 1;

    /* closing a submenu gives its entries back at once */
    menu_remove(levels);
    printf("after closing \"Level select\": %zu of %zu entries in use\n",
           wd_pool_count(&menu), wd_pool_capacity(&menu));
    if (wd_pool_count(&menu) != 8)
        return 1;
    struct menu_item *extras = menu_add(title, "Extras", 0);
    if (extras == NULL || menu_add(extras, "Credits", 20) == NULL)
        return 1;
    menu_print(title, 0, 5);

    menu_remove(title);
    printf("menu closed: %zu entries in use\n", wd_pool_count(&menu));
    return wd_pool_count(&menu) == 0 ? 0 : 1;
}
