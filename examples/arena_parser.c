/* arena_parser.c -- a parser that builds its tree in an arena and frees the
 * whole tree with one wd_arena_reset.
 *
 * Each input line is an arithmetic expression (numbers, + - * /, unary
 * minus, parentheses).  The parser makes one arena node per operator and
 * number -- never a free per node: when the line is done (printed as an
 * S-expression and evaluated) or rejected (a syntax error halfway through
 * leaves a partial tree), one reset gives everything back and the arena
 * keeps its chunk for the next line.  A second, fixed arena of 1 KiB on the
 * stack shows the budget case: an expression too big for it fails cleanly
 * with ENOMEM.  Exits 1 if a result or the arena's accounting is wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/arena.h>

typedef struct node {
    char op; /* '+', '-', '*', '/', 'n' (a number), 'u' (unary minus) */
    double value;
    struct node *left, *right;
} node_t;

typedef struct parser {
    const char *s;
    wd_arena_t *arena;
    const char *error; /* first error, or NULL */
} parser_t;

static node_t *parse_expr(parser_t *p);

static node_t *node_new(parser_t *p, char op, node_t *left, node_t *right) {
    node_t *n = wd_arena_alloc(p->arena, sizeof *n);
    if (n == NULL) {
        p->error = p->error ? p->error : "out of memory (ENOMEM)";
        return NULL;
    }
    *n = (node_t){op, 0, left, right};
    return n;
}

static void skip_space(parser_t *p) {
    while (*p->s == ' ')
        p->s++;
}

static node_t *fail(parser_t *p, const char *why) {
    p->error = p->error ? p->error : why;
    return NULL;
}

/* primary := number | '(' expr ')' | '-' primary */
static node_t *parse_primary(parser_t *p) {
    skip_space(p);
    if (*p->s == '-') {
        p->s++;
        node_t *operand = parse_primary(p);
        return operand ? node_new(p, 'u', operand, NULL) : NULL;
    }
    if (*p->s == '(') {
        p->s++;
        node_t *inner = parse_expr(p);
        skip_space(p);
        if (inner == NULL || *p->s != ')')
            return fail(p, "expected ')'");
        p->s++;
        return inner;
    }
    char *end;
    double v = strtod(p->s, &end);
    if (end == p->s)
        return fail(p, "expected a number");
    p->s = end;
    node_t *n = node_new(p, 'n', NULL, NULL);
    if (n != NULL)
        n->value = v;
    return n;
}

/* A left-associative chain of `next` operands joined by the ops in `ops`. */
static node_t *parse_chain(parser_t *p, const char *ops, node_t *(*next)(parser_t *)) {
    node_t *left = next(p);
    for (;;) {
        skip_space(p);
        if (left == NULL || *p->s == '\0' || strchr(ops, *p->s) == NULL)
            return left;
        char op = *p->s++;
        node_t *right = next(p);
        left = right ? node_new(p, op, left, right) : NULL;
    }
}

static node_t *parse_term(parser_t *p) { return parse_chain(p, "*/", parse_primary); }
static node_t *parse_expr(parser_t *p) { return parse_chain(p, "+-", parse_term); }

/* The tree of a whole line, or NULL with p->error set. */
static node_t *parse_line(parser_t *p) {
    node_t *root = parse_expr(p);
    skip_space(p);
    if (root != NULL && *p->s != '\0')
        return fail(p, "unexpected text after the expression");
    return root;
}

static double eval(const node_t *n) {
    switch (n->op) {
    case 'n': return n->value;
    case 'u': return -eval(n->left);
    case '+': return eval(n->left) + eval(n->right);
    case '-': return eval(n->left) - eval(n->right);
    case '*': return eval(n->left) * eval(n->right);
    default: return eval(n->left) / eval(n->right);
    }
}

static void print_tree(const node_t *n) {
    if (n->op == 'n') {
        printf("%g", n->value);
    } else if (n->op == 'u') {
        printf("(neg ");
        print_tree(n->left);
        printf(")");
    } else {
        printf("(%c ", n->op);
        print_tree(n->left);
        printf(" ");
        print_tree(n->right);
        printf(")");
    }
}

/* Parses, prints and evaluates one line in arena a, then resets a.  Returns
 * 0 when the outcome is the expected one (a value, or an error). */
static int run_line(wd_arena_t *a, const char *line, int ok, double want) {
    parser_t p = {wd_arena_strdup(a, line), a, NULL}; /* the tree keeps its text */
    node_t *root = p.s ? parse_line(&p) : NULL;
    int good;
    printf("%-34s ", line);
    if (root != NULL) {
        double v = eval(root);
        print_tree(root);
        printf(" = %g   [%zu arena bytes]\n", v, wd_arena_used(a));
        good = ok && v == want;
    } else {
        printf("error: %s   [%zu arena bytes]\n", p.s ? p.error : "out of memory (ENOMEM)",
               wd_arena_used(a));
        good = !ok;
    }
    wd_arena_reset(a); /* the whole tree, text included, in one call */
    return good && wd_arena_used(a) == 0 ? 0 : 1;
}

int main(void) {
    static const struct {
        const char *text;
        int ok;
        double value;
    } lines[] = {
        {"1 + 2 * 3", 1, 7},
        {"(1 + 2) * 3", 1, 9},
        {"-(4 - 10) / 2", 1, 3},
        {"2 * (3 + 4) * (5 - 1) - -1", 1, 57},
        {"1.5 * 4 / (2 - 0.5)", 1, 4},
        {"(1 + 2", 0, 0},
        {"3 * / 4", 0, 0},
        {"10 - 2 - 3", 1, 5},
    };
    int failures = 0;
    wd_arena_t *a = wd_arena_create(0);
    if (a == NULL)
        return 1;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        failures += run_line(a, lines[i].text, lines[i].ok, lines[i].value);

    /* a long line: many chunks while it lives, one kept after the reset */
    static char big[64 * 1024];
    size_t len = 0;
    for (int i = 0; len + 8 < sizeof big; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, "%s%d", i ? " + " : "", i % 10);
    parser_t p = {big, a, NULL};
    node_t *root = parse_line(&p);
    double sum = root ? eval(root) : -1;
    printf("a %zu-character sum = %g, tree of %zu arena bytes; ", len, sum, wd_arena_used(a));
    wd_arena_reset(a);
    printf("after one reset: %zu\n", wd_arena_used(a));
    failures += root == NULL || wd_arena_used(a) != 0;
    wd_arena_destroy(a);

    /* the same parser on a fixed 1 KiB budget on the stack */
    _Alignas(16) unsigned char budget[1024];
    wd_arena_t *fixed = wd_arena_init(budget, sizeof budget);
    if (fixed == NULL)
        return 1;
    printf("fixed arena of %zu bytes (%zu for nodes):\n", sizeof budget,
           sizeof budget - WD_ARENA_OVERHEAD);
    failures += run_line(fixed, "(1 + 2) * (3 + 4)", 1, 21);
    failures += run_line(fixed, "1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1", 0, 0);
    failures += run_line(fixed, "6 * 7", 1, 42); /* usable again after ENOMEM */
    return failures ? 1 : 0;
}
