/* test_http_peers.c — the per-address connection cap (core/http_peers.c):
 * counting, refusal at the cap, slots given back, IPv6 counted by /64,
 * IPv4-mapped IPv6 as IPv4, and uncapped networks. */
#include "check.h"
#include "http_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static struct sockaddr_storage addr(const char *ip) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &a->sin_addr);
    }
    return ss;
}

static int take(http_peers *p, const char *ip, http_peer_slot **slot) {
    struct sockaddr_storage ss = addr(ip);
    return http_peers_take(p, (struct sockaddr *)&ss, slot);
}

static unsigned count(http_peers *p, const char *ip) {
    struct sockaddr_storage ss = addr(ip);
    return http_peers_count(p, (struct sockaddr *)&ss);
}

static void test_cap(void) {
    http_peers *p = http_peers_create(3);
    http_peer_slot *s[4];
    for (int i = 0; i < 3; i++) CHECK(take(p, "10.0.0.1", &s[i]) == 0 && s[i], "connection %d is counted", i + 1);
    CHECK(take(p, "10.0.0.1", &s[3]) == -1 && !s[3], "the fourth from one address is refused");
    CHECK(take(p, "10.0.0.2", &s[3]) == 0, "another address is not");
    CHECK(count(p, "10.0.0.1") == 3, "three counted for the first");
    http_peers_give(p, s[0]);
    CHECK(count(p, "10.0.0.1") == 2, "a slot given back is free again");
    CHECK(take(p, "::ffff:10.0.0.1", &s[0]) == 0 && count(p, "10.0.0.1") == 3,
          "IPv4-mapped IPv6 counts as the IPv4 address");
    CHECK(take(p, "::ffff:10.0.0.1", &s[0]) == -1, "and is refused at its cap");
    http_peers_give(p, s[3]);
    CHECK(count(p, "10.0.0.2") == 0, "an address at zero is forgotten");
    http_peers_free(p);   /* entries still counted are freed with it */
}

static void test_ipv6_block(void) {
    http_peers *p = http_peers_create(2);
    http_peer_slot *s;
    CHECK(take(p, "2001:db8:1:2::1", &s) == 0, "one host of a /64");
    CHECK(take(p, "2001:db8:1:2:ffff::9", &s) == 0, "another host of the same /64");
    CHECK(take(p, "2001:db8:1:2:abcd::1", &s) == -1, "a third of the same /64 is refused");
    CHECK(take(p, "2001:db8:1:3::1", &s) == 0, "the next /64 is another client");
    http_peers_free(p);
}

static void test_uncapped(void) {
    http_peers *p = http_peers_create(1);
    const char *nets[] = {"10.1.0.0/16", "192.168.1.7", "fd00::/8", "not-an-address", "10.0.0.0/33"};
    CHECK(http_peers_set_uncapped(p, nets, 5) == 2, "two entries that do not parse are counted");
    http_peer_slot *s;
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= take(p, "10.1.200.3", &s) == 0 && s == NULL;
    CHECK(ok, "a proxy inside a CIDR block is never refused nor counted");
    CHECK(take(p, "192.168.1.7", &s) == 0 && take(p, "192.168.1.7", &s) == 0, "an exact address is uncapped");
    CHECK(take(p, "fd12::1", &s) == 0 && take(p, "fd12::1", &s) == 0, "an IPv6 block is uncapped");
    CHECK(take(p, "10.2.0.1", &s) == 0 && take(p, "10.2.0.1", &s) == -1, "outside the blocks the cap holds");
    http_peers_free(p);
}

static void test_no_cap(void) {
    http_peers *p = http_peers_create(0);
    http_peer_slot *s;
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= take(p, "10.0.0.1", &s) == 0 && s == NULL;
    CHECK(ok, "a cap of 0 counts nothing and refuses nothing");
    http_peers_free(p);
}

int main(void) {
    test_cap();
    test_ipv6_block();
    test_uncapped();
    test_no_cap();
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
