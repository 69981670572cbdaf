/* Session ticket keys shared across workers, rotated lazily (tls_tickets.h).
 * The object is owned by its references: every context set using it holds
 * one; the last l7_tls_tickets_put() wipes the keys and frees it. */
#include "tls_tickets.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "tls_ctx.h"

static struct l7_tls_tickets *alloc_tickets(void)
{
	struct l7_tls_tickets *tk = calloc(1, sizeof(*tk));

	if (!tk)
		return NULL;
	atomic_init(&tk->refs, 1);
	pthread_mutex_init(&tk->lock, NULL);
	tk->clock = log_now_ms;
	return tk;
}

static int new_key(struct l7_tls_tkey *k)
{
	return RAND_bytes((unsigned char *)k, (int)sizeof(*k)) == 1 ? 0 : -EIO;
}

struct l7_tls_tickets *l7_tls_tickets_new(uint32_t rotate_s)
{
	struct l7_tls_tickets *tk;

	if (rotate_s < L7_TLS_ROTATE_MIN_S || rotate_s > L7_TLS_ROTATE_MAX_S)
		return NULL;
	if (!(tk = alloc_tickets()))
		return NULL;
	if (new_key(&tk->keys[0])) {
		l7_tls_tickets_put(tk);
		return NULL;
	}
	tk->n_keys = 1;
	tk->rotate_s = rotate_s;
	tk->rotate_ms = (uint64_t)rotate_s * 1000;
	tk->next_rotate_ms = tk->clock() + tk->rotate_ms;
	return tk;
}

/* One base64 line into an 80-byte key; false when it is not one. */
static bool decode_key(const char *line, size_t len, struct l7_tls_tkey *k)
{
	unsigned char raw[128];
	int n, pad = 0;

	if (len == 0 || len > 4 * sizeof(raw) / 3 || len % 4)
		return false;
	n = EVP_DecodeBlock(raw, (const unsigned char *)line, (int)len);
	pad = (line[len - 1] == '=') + (len > 1 && line[len - 2] == '=');
	if (n - pad != L7_TLS_TKEY_FILE_LEN)
		return false;
	/* nginx layout: name, then the HMAC key, then the AES key */
	memcpy(k->name, raw, 16);
	memcpy(k->hmac, raw + 16, 32);
	memcpy(k->aes, raw + 48, 32);
	OPENSSL_cleanse(raw, sizeof(raw));
	return true;
}

static int read_key_file(struct l7_tls_tickets *tk, const char *path, char *why, size_t cap)
{
	char line[256];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(why, cap, "%s: cannot read: %s", path, strerror(errno));
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");

		lineno++;
		if (len == 0 || line[0] == '#')
			continue;
		if (tk->n_keys == L7_TLS_TKEYS) {
			snprintf(why, cap, "%s:%u: more than %d keys", path, lineno, L7_TLS_TKEYS);
			goto out_fail;
		}
		if (!decode_key(line, len, &tk->keys[tk->n_keys])) {
			snprintf(why, cap, "%s:%u: not an 80-byte key in base64", path, lineno);
			goto out_fail;
		}
		tk->n_keys++;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	if (!tk->n_keys) {
		snprintf(why, cap, "%s: no key in the file", path);
		return -EINVAL;
	}
	return 0;
out_fail:
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return -EINVAL;
}

struct l7_tls_tickets *l7_tls_tickets_from_file(const char *path, char *why, size_t why_cap)
{
	struct l7_tls_tickets *tk = alloc_tickets();

	if (!tk || !(tk->file = strdup(path))) {
		snprintf(why, why_cap, "%s: out of memory", path);
		l7_tls_tickets_put(tk);
		return NULL;
	}
	if (read_key_file(tk, path, why, why_cap)) {
		l7_tls_tickets_put(tk);
		return NULL;
	}
	return tk;
}

struct l7_tls_tickets *l7_tls_tickets_get(struct l7_tls_tickets *tk)
{
	if (tk)
		atomic_fetch_add(&tk->refs, 1);
	return tk;
}

void l7_tls_tickets_put(struct l7_tls_tickets *tk)
{
	if (!tk || atomic_fetch_sub(&tk->refs, 1) != 1)
		return;
	OPENSSL_cleanse(tk->keys, sizeof(tk->keys));
	pthread_mutex_destroy(&tk->lock);
	free(tk->file);
	free(tk);
}

struct l7_tls_tickets *l7_tls_tickets_for(struct l7_tls_tickets *old, uint32_t rotate_s,
					  const char *file, char *why, size_t why_cap)
{
	struct l7_tls_tickets *tk;

	if (file)
		return l7_tls_tickets_from_file(file, why, why_cap);
	if (old && !old->file && old->rotate_s == rotate_s)
		return l7_tls_tickets_get(old);
	if (!(tk = l7_tls_tickets_new(rotate_s)))
		snprintf(why, why_cap, "cannot make ticket keys (rotate %u s)", rotate_s);
	return tk;
}

/* Under tk->lock: retires keys whose time is over. A process idle for two
 * periods or more starts over with one fresh key. */
static void rotate_locked(struct l7_tls_tickets *tk, uint64_t now)
{
	uint64_t periods;
	struct l7_tls_tkey fresh;

	if (!tk->rotate_ms || now < tk->next_rotate_ms)
		return;
	if (new_key(&fresh))
		return; /* keep the old key a little longer rather than fail */
	periods = (now - tk->next_rotate_ms) / tk->rotate_ms + 1;
	if (periods >= 2) {
		atomic_fetch_add(&tk->stats.rotations, tk->n_keys);
		tk->n_keys = 1;
	} else {
		if (tk->n_keys == 2)
			atomic_fetch_add(&tk->stats.rotations, 1);
		tk->keys[1] = tk->keys[0];
		tk->n_keys = 2;
	}
	tk->keys[0] = fresh;
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	tk->next_rotate_ms += periods * tk->rotate_ms;
}

void l7_tls_tickets_tick(struct l7_tls_tickets *tk)
{
	pthread_mutex_lock(&tk->lock);
	rotate_locked(tk, tk->clock());
	pthread_mutex_unlock(&tk->lock);
}

void l7_tls_tickets_set_clock(struct l7_tls_tickets *tk, uint64_t (*clock)(void))
{
	pthread_mutex_lock(&tk->lock);
	tk->clock = clock;
	if (tk->rotate_ms)
		tk->next_rotate_ms = clock() + tk->rotate_ms;
	pthread_mutex_unlock(&tk->lock);
}

/* Copies the key to use: keys[0] to encrypt, or the one named key_name to
 * decrypt. Returns its index, -1 when not held. */
static int pick_key(struct l7_tls_tickets *tk, const unsigned char *name, bool enc,
		    struct l7_tls_tkey *out)
{
	int idx = -1;

	pthread_mutex_lock(&tk->lock);
	rotate_locked(tk, tk->clock());
	for (unsigned i = 0; i < tk->n_keys && idx < 0; i++) {
		if (enc || !memcmp(tk->keys[i].name, name, 16))
			idx = (int)i;
	}
	if (idx >= 0)
		*out = tk->keys[idx];
	pthread_mutex_unlock(&tk->lock);
	return idx;
}

static int set_hmac(EVP_MAC_CTX *hctx, struct l7_tls_tkey *k)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

static struct l7_tls_tickets *tickets_of(SSL *ssl)
{
	struct l7_tls_set *set = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), l7_tls_ctx_index());

	return set ? set->tickets : NULL;
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb(3): enc = 1 makes a ticket (1 ok,
 * -1 error); enc = 0 opens one: 0 unknown key (full handshake), 1 ok, 2 ok
 * but renew it under the current key. */
static int on_ticket_key(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct l7_tls_tickets *tk = tickets_of(ssl);
	struct l7_tls_tkey k;
	int idx, rc = -1;

	if (!tk)
		return enc ? -1 : 0;
	idx = pick_key(tk, key_name, enc, &k);
	if (idx < 0) {
		atomic_fetch_add(&tk->stats.unknown, 1);
		return enc ? -1 : 0;
	}
	if (enc) {
		memcpy(key_name, k.name, 16);
		if (RAND_bytes(iv, 16) == 1 &&
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1 &&
		    !set_hmac(hctx, &k)) {
			atomic_fetch_add(&tk->stats.issued, 1);
			rc = 1;
		}
	} else if (!set_hmac(hctx, &k) &&
		   EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1) {
		atomic_fetch_add(idx ? &tk->stats.renewed : &tk->stats.resumed, 1);
		rc = idx ? 2 : 1;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

void l7_tls_tickets_install(SSL_CTX *ctx, struct l7_tls_tickets *tk)
{
	if (!tk) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		return;
	}
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
}
